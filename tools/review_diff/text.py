"""Formatting and flattening shared by every section (values, word diffs, tables)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml



ROOT = Path(__file__).resolve().parents[2]
SECRET_MASK = "[secret]"
SECRET_TYPE = "kubernetes:core/v1:Secret"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"
RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
NO_CHANGES = "No changes."
MAX_LINES = 80  # per list in a section; the rest is counted, not printed
MAX_VALUE = 120  # characters of a value shown inline
CONTEXT = 40  # characters of unchanged text kept on each side of a change in an expression
MIN_SECRET = 8  # shorter values under a secret input are not scrubbed (they are never printed either)

# Field names whose values may be credentials (Alertmanager receivers, objstore.yml, ...).
# A ``*_file`` field holds a path, not the credential.
_SENSITIVE = re.compile(r"(key|token|secret|passw|credential|webhook|url|auth|bearer|cookie|header)", re.I)


class DiffError(Exception):
    """A one-line error for the user (bad ref, failed render, unreadable file)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def _sensitive(key: str) -> bool:
    return bool(_SENSITIVE.search(key)) and not key.endswith("_file")


# --------------------------------------------------------------------------- formatting


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return re.sub(r"\s+", " ", text).strip()


def _short(value: Any, limit: int = MAX_VALUE) -> str:
    text = _one_line(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(value: Any, limit: int = MAX_VALUE) -> str:
    """An inline code span that survives a Markdown table cell."""
    text = _short(value, limit).replace("|", "\\|")
    if not text:
        return "`\"\"`"
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # quoted string
    r"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*"  # number, duration (5m) or size (50Gi)
    r"|[A-Za-z_:][A-Za-z0-9_:.]*"  # identifier / metric / recording-rule name
    r"|\s+|.",
    re.S,
)
_NUMBER = re.compile(r"^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*$")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_one_line(text))


def word_diff(old: Any, new: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """Old and new as code spans with the differing tokens in bold, and the changed pieces."""
    a, b = _tokens(_one_line(old)), _tokens(_one_line(new))
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    old_parts: list[tuple[str, bool]] = []
    new_parts: list[tuple[str, bool]] = []
    changes: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old_text, new_text = "".join(a[i1:i2]), "".join(b[j1:j2])
        old_parts.append((old_text, op != "equal"))
        new_parts.append((new_text, op != "equal"))
        if op != "equal":
            changes.append((old_text.strip(), new_text.strip()))
    return _spans(old_parts), _spans(new_parts), changes


def _spans(parts: list[tuple[str, bool]]) -> str:
    merged: list[list] = []
    for text, changed in parts:
        if not text:
            continue
        if changed and not text.strip():
            changed = False  # whitespace alone is not worth bold
        if merged and merged[-1][1] == changed:
            merged[-1][0] += text
        else:
            merged.append([text, changed])
    if not merged:
        return "*(none)*"
    out = []
    for index, (text, changed) in enumerate(merged):
        if not changed and len(text) > 2 * CONTEXT + 5:
            # Long unchanged stretches are elided (the start of the expression and the text
            # around each change stay) so the changed tokens stand out.
            text = text[:CONTEXT] + " …" if index == len(merged) - 1 else f"{text[:CONTEXT]} … {text[-CONTEXT:]}"
        # Code spans lose edge spaces; keep them outside so words stay apart.
        lead = " " if text[:1].isspace() else ""
        trail = " " if text[-1:].isspace() and text.strip() else ""
        body = code(text.strip(), limit=10_000) if text.strip() else ""
        out.append(f"{lead}{'**' + body + '**' if changed and body else body}{trail}")
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _change_summary(changes: list[tuple[str, str]]) -> str:
    """``0.05 → 0.5`` for every changed piece (numbers first: thresholds must stand out)."""
    pieces = []
    for old, new in changes:
        if (old and _NUMBER.match(old)) or (new and _NUMBER.match(new)):
            pieces.append(f"**{old or '∅'} → {new or '∅'}**")
    return ", ".join(pieces)


# --------------------------------------------------------------------------- data helpers


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_\-/]+", k) else f'["{k}"]'


def _join(prefix: str, k: str) -> str:
    part = _key(k)
    if not prefix:
        return part
    return f"{prefix}{part}" if part.startswith("[") else f"{prefix}.{part}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of nested data: ``a.b[0].c``; list items with a unique ``name`` as ``[name=x]``."""
    if isinstance(value, dict):
        if not value:
            return {prefix: {}} if prefix else {}  # an empty document has no paths (not one called "")
        out: dict[str, Any] = {}
        for k in sorted(value, key=str):
            out.update(flatten(value[k], _join(prefix, str(k))))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []} if prefix else {}
        names = [v.get("name") for v in value if isinstance(v, dict)]
        by_name = len(names) == len(value) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[name={item['name']}]" if by_name else f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _parse_text(text: Any) -> Any:
    """A multi-line string that holds a YAML/JSON mapping or list, parsed; else None."""
    if not isinstance(text, str) or "\n" not in text.strip():
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


@dataclass
class FlatDiff:
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def paths(self) -> list[str]:
        return sorted({*self.added, *self.removed, *self.changed})


def flat_diff(old: Any, new: Any, prefix: str = "", expand_text: bool = True) -> FlatDiff:
    a, b = flatten(old, prefix), flatten(new, prefix)
    diff = FlatDiff()
    for path in sorted(set(a) | set(b)):
        if path not in a:
            diff.added[path] = b[path]
        elif path not in b:
            diff.removed[path] = a[path]
        elif a[path] != b[path]:
            pa, pb = (_parse_text(a[path]), _parse_text(b[path])) if expand_text else (None, None)
            if pa is not None and pb is not None:
                inner = flat_diff(pa, pb, f"{path} ⟨text⟩")
                diff.added.update(inner.added)
                diff.removed.update(inner.removed)
                diff.changed.update(inner.changed)
            else:
                diff.changed[path] = (a[path], b[path])
    return diff


def _flat_lines(diff: FlatDiff, show_values: bool = True) -> list[str]:
    lines = []
    for path in diff.paths():
        if not show_values:
            lines.append(f"- {code(path)}: changed")
        elif path in diff.added:
            lines.append(f"- {code(path)}: *(added)* {code(diff.added[path])}")
        elif path in diff.removed:
            lines.append(f"- {code(path)}: *(removed, was)* {code(diff.removed[path])}")
        else:
            old, new = diff.changed[path]
            if isinstance(old, str) and isinstance(new, str) and ("\n" in old.strip() or "\n" in new.strip()):
                lines.append(f"- {code(path)}: text changed ({_first_difference(old, new)})")
            else:
                lines.append(f"- {code(path)}: {code(old)} → **{code(new)}**")
    return _capped(lines)


def _first_difference(old: str, new: str) -> str:
    a, b = old.splitlines(), new.splitlines()
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: {code(x.strip())} → **{code(y.strip())}**"
    return f"{len(a)} → {len(b)} lines"


def _capped(lines: list[str], limit: int = MAX_LINES) -> list[str]:
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"- … and {len(lines) - limit} more"]


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


