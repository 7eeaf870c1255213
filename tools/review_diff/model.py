"""A rendered stack (resources.json) and the secret values that must never reach a report."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional


from tools.review_diff.text import DiffError, MIN_SECRET, SECRET_MASK, SECRET_TYPE, _parse_text, _sensitive


# --------------------------------------------------------------------------- render model


Rid = tuple[str, str]  # (type, name)


# The sources a report quotes with file and line (rule annotations, runbooks, promtool tests),
# read from the tree that was rendered.
SOURCE_GLOBS = ("rules/*.rules.yaml", "rules/tests/*.yaml", "docs/runbooks/*.md")


@dataclass
class Render:
    label: str
    document: dict
    files: dict[str, str] = field(default_factory=dict)  # path relative to the tree -> text

    @property
    def resources(self) -> dict[Rid, dict]:
        return {(r["type"], r["name"]): r for r in self.document.get("resources", [])}

    def of_type(self, type_token: str) -> dict[str, dict]:
        return {r["name"]: r for r in self.document.get("resources", []) if r["type"] == type_token}


def load_render(path: Path, label: Optional[str] = None) -> Render:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DiffError(f"cannot read render {path}: {err.__class__.__name__}: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise DiffError(f"{path} is not a resources.json written by tools.render (no 'resources' list)")
    return Render(label or str(path), document)


def _comparable(entry: dict) -> dict:
    return {k: entry.get(k) for k in ("parent", "dependencies", "secretInputs", "inputs")}


# --------------------------------------------------------------------------- secrets


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _sensitive_values(value: Any, under_sensitive: bool = False) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _sensitive_values(v, under_sensitive or _sensitive(str(k)))
    elif isinstance(value, list):
        for v in value:
            yield from _sensitive_values(v, under_sensitive)
    elif isinstance(value, str) and under_sensitive:
        yield value


def _at(value: Any, dotted: str) -> Any:
    for part in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def secret_values(*renders: Render) -> set[str]:
    """Every value a render holds under a secret input (in case the render failed to mask it).

    Plain leaves count unless they also occur outside secrets (``username: prometheus``)
    or are too short to be a credential (``admin-user: admin``); documents inside a
    secret (``objstore.yml``, ``alertmanager.yaml``) count by their credential-like fields.
    """
    public: set[str] = set()
    candidates: set[str] = set()
    for render in renders:
        public.update(_strings(render.document.get("outputs") or {}))
        for entry in render.document.get("resources", []):
            public.add(str(entry.get("name")))
            inputs = entry.get("inputs") or {}
            secret_paths = list(entry.get("secretInputs") or [])
            if entry.get("type") == SECRET_TYPE:
                secret_paths += ["stringData", "data"]
            secret_parts = [_at(inputs, p) for p in secret_paths]
            for part in secret_parts:
                for text in _strings(part):
                    parsed = _parse_text(text)
                    if parsed is not None:
                        candidates.update(_sensitive_values(parsed))
                    else:
                        candidates.add(text)
            if entry.get("type") != SECRET_TYPE:
                public.update(s for s in _strings({k: v for k, v in inputs.items() if k not in secret_paths}))
    return {s for s in candidates if len(s) >= MIN_SECRET and SECRET_MASK not in s and s not in public}


def scrub(text: str, values: Iterable[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, SECRET_MASK)
    return text


