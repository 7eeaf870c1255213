"""Secrets in what the offline render and the tests show: the ``Secret`` marker and masking.

A secret leaf becomes ``"[secret]"``; a secret value inside longer text (a Helm values
string, an ``objstore.yml``) is replaced where it occurs, so the rest stays readable.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi.runtime import rpc

SECRET_MASK = "[secret]"
UNKNOWN_MASK = "[unknown until apply]"


class Secret:
    """A secret leaf as the engine received it; ``value`` never leaves the test process."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __repr__(self) -> str:  # never print the value, even in a failing assertion
        return "Secret(***)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value


# Below this length a secret is not replaced inside longer text (a 2-character secret would
# match everywhere); it is masked as a whole leaf, as a token, or by masking the whole string.
SHORT_SECRET = 4


def _token_re(secret: str) -> "re.Pattern[str]":
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")


def _mask_text(text: str, secret_values: frozenset[str], inside_secret: bool = False) -> str:
    """Mask every secret in ``text``, whatever its length.

    A string that is a secret is masked whole. Longer secrets are replaced where they occur.
    A short one (under SHORT_SECRET characters) inside a secret-marked input masks the whole
    string (an ``objstore.yml`` with a 3-character key shows no part of itself); elsewhere it
    is masked where it stands as a token of its own (``user:ab@host``).
    """
    if text in secret_values:
        return SECRET_MASK
    for secret in sorted((s for s in secret_values if s), key=len, reverse=True):
        if len(secret) >= SHORT_SECRET:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        elif inside_secret and secret in text:
            return SECRET_MASK
        else:
            text = _token_re(secret).sub(SECRET_MASK, text)
    return text


def masked(value: Any, secret_values: frozenset[str] = frozenset(), inside_secret: bool = False) -> Any:
    """Mask secrets at the leaf where they occur, keeping everything else readable.

    Providers mark whole inputs secret (a Kubernetes Secret's ``stringData`` is secret as
    soon as it exists), so the wire marker alone would hide ``admin-user: admin`` too.
    The render therefore also knows the secrets' sources (secret config values and
    generated passwords) and masks exactly those values, inside strings as well
    (an ``objstore.yml`` document keeps its bucket and endpoint readable).
    """
    if isinstance(value, Secret):
        inner = value.value
        if isinstance(inner, (dict, list)):
            return masked(inner, secret_values, inside_secret=True)
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: masked(v, secret_values, inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secret_values, inside_secret) for v in value]
    if value == rpc.UNKNOWN:
        # An unknown inside a secret container is a generated secret (e.g. a password).
        return SECRET_MASK if inside_secret else UNKNOWN_MASK
    if isinstance(value, str):
        return _mask_text(value, secret_values, inside_secret)
    return value


def leaked_secrets(value: Any, secret_values: frozenset[str], path: str = "") -> list[str]:
    """Paths where a known secret value appears outside any secret-marked input."""
    if isinstance(value, Secret):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaked_secrets(v, secret_values, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaked_secrets(v, secret_values, f"{path}[{i}]")]
    if isinstance(value, str) and any(
        s and (value == s or (s in value if len(s) >= SHORT_SECRET else bool(_token_re(s).search(value)))) for s in secret_values
    ):
        return [path]
    return []


def secret_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every secret leaf, e.g. ``stringData.admin-password``."""
    if isinstance(value, Secret):
        return [prefix]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in secret_paths(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in secret_paths(v, f"{prefix}[{i}]")]
    return []
