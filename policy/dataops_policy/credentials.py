"""Finding credentials in plain (non-secret) inputs.

A *credential-looking key* is a key whose words (split at camelCase, ``_``, ``-``, ``.``)
contain password, passwd, passphrase, token, secret, webhook, credential(s), apikey, or
``key`` right after api / access / secret / routing / private / signing / encryption /
auth / license (``secretKey``, ``ACCESS_KEY_ID``, ``routing_key``). A key that only
*names* where a credential lives is not one: a last word name(s) / ref / file / path / dir
(``secretName``, ``secretKeyRef``, ``bearerTokenFile``, ``api_url_file``), a first word
existing / use (``existingSecret``), ``<password|user|token>Key`` (the key inside a
Secret, e.g. Grafana's ``passwordKey``) and ``configSecret``. For qualified names
(``secret.reloader.stakater.com/reload``) only the part after the last ``/`` counts.

A plain value is flagged when it is a non-empty string under such a key: in a mapping,
in a ``{name: ..., value: ...}`` pair (container env, Helm ``extraEnv``), in a
``--flag=value`` argument, or inside a multi-line string that parses as a YAML/JSON
document (ConfigMap files). Values that are references (``$(VAR)``, ``${VAR}``) are not
credentials. Independently of keys, a Slack incoming-webhook URL or a URL with a password
in it (``scheme://user:pass@host``) is a credential wherever it appears in plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import yaml

from .values import is_secret, join, known_elements, known_items, reveal, text

CREDENTIAL_WORDS = frozenset(
    {"password", "passwd", "passphrase", "token", "secret", "webhook", "credential", "credentials", "apikey"}
)
KEY_QUALIFIERS = frozenset({"api", "access", "secret", "routing", "private", "signing", "encryption", "auth", "license"})
REFERENCE_LAST_WORDS = frozenset({"name", "names", "ref", "refs", "file", "files", "path", "paths", "dir"})
REFERENCE_FIRST_WORDS = frozenset({"existing", "use"})
SECRET_KEY_NAME_WORDS = frozenset({"password", "user", "username", "token"})  # passwordKey: a key *in* a Secret
REFERENCE_KEYS = frozenset({"configsecret"})

_FLAG_RE = re.compile(r"^--?([A-Za-z0-9][A-Za-z0-9_.-]*)=(.*)$", re.DOTALL)
_REFERENCE_VALUE_RE = re.compile(r"^\$(\(|\{)[A-Za-z_][A-Za-z0-9_]*(\)|\})$")
_CREDENTIAL_VALUE_PATTERNS = (
    (re.compile(r"https://hooks\.slack\.com/services/\S+"), "a Slack incoming-webhook URL"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password in it"),
)


def words(key: str) -> list[str]:
    key = key.rsplit("/", 1)[-1]
    key = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    key = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", key)
    return [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]


def is_credential_key(key: str) -> bool:
    parts = words(key)
    if not parts or "".join(parts) in REFERENCE_KEYS:
        return False
    if parts[-1] in REFERENCE_LAST_WORDS or parts[0] in REFERENCE_FIRST_WORDS:
        return False
    if len(parts) >= 2 and parts[-1] == "key" and parts[-2] in SECRET_KEY_NAME_WORDS:
        return False
    if any(p in CREDENTIAL_WORDS for p in parts):
        return True
    return any(p == "key" and i > 0 and parts[i - 1] in KEY_QUALIFIERS for i, p in enumerate(parts))


def _plain_credential_value(value: Any) -> bool:
    value = text(value)
    return value is not None and value.strip() != "" and not _REFERENCE_VALUE_RE.match(value.strip())


@dataclass(frozen=True)
class Finding:
    path: str
    reason: str


def _document(value: str) -> Any:
    """A multi-line string that is a YAML/JSON document (a ConfigMap file), else None."""
    if "\n" not in value:
        return None
    try:
        document = yaml.safe_load(value)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, (dict, list)) else None


def plain_credentials(value: Any, path: str = "") -> Iterator[Finding]:
    """Credentials in the plain parts of ``value``; secret-marked subtrees are skipped."""
    if is_secret(value):
        return
    value = reveal(value)
    if isinstance(value, str):
        for pattern, what in _CREDENTIAL_VALUE_PATTERNS:
            if pattern.search(value):
                yield Finding(path, f"holds {what} in plain text")
                return
        flag = _FLAG_RE.match(value)
        if flag and is_credential_key(flag.group(1)) and _plain_credential_value(flag.group(2)):
            yield Finding(path, f"passes --{flag.group(1)} in plain text")
            return
        document = _document(value)
        if document is not None:
            yield from plain_credentials(document, f"{path}#")
        return
    pairs = dict(known_items(value))
    if pairs:
        name = text(pairs.get("name"))
        if name is not None and "value" in pairs and not is_secret(pairs["value"]):
            if is_credential_key(name) and _plain_credential_value(pairs["value"]):
                yield Finding(join(path, "value"), f"sets {name} in plain text")
        for key, child in pairs.items():
            here = join(path, key)
            if is_secret(child):
                continue
            if is_credential_key(key) and _plain_credential_value(child):
                yield Finding(here, f"credential-looking key {key!r} has a plain value")
                continue
            yield from plain_credentials(child, here)
        return
    for index, element in known_elements(value):
        yield from plain_credentials(element, join(path, index))
