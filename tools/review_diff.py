"""Reviewer's report: what a change does to a stack's rendered resources, as Markdown.

    python -m tools.review_diff prod --base origin/main            # BASE vs the working tree
    python -m tools.review_diff prod --base origin/main --head HEAD  # two commits
    python -m tools.review_diff --base-render a.json --head-render b.json
    make diff STACK=prod BASE=origin/main

A git ref is rendered in a temporary ``git worktree add --detach`` (removed afterwards)
by that tree's own ``python -m tools.render <stack> --out <dir>``, run with this
project's .venv python; the working tree is rendered in place. The two
``resources.json`` documents are compared and the report lists, each in its own
section and only when something differs: resources added/removed/changed, alerts
(expression, ``for``, severity, labels, annotations; changed numbers in bold),
recording rules, Alertmanager (timings, routes, receivers by name, inhibitions), SLOs
(objective, windows, burn thresholds), Helm values by key path, dashboards (panels,
queries), secrets (changed/unchanged only), other resource fields and stack outputs.

Secret values are never printed: Secret resources are reported as changed/unchanged,
the Alertmanager config (itself in a Secret) is read for names, matchers and timings
only, and every value found under a secret input is scrubbed from the text. The render
masks secret values, so rotating a secret does not show in the report.

Exit status: 0, or 1 with ``--fail-on-change`` when anything differs; 2 on errors
(unreadable ref, failed render, unreadable file).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
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
            return {prefix: {}}
        out: dict[str, Any] = {}
        for k in sorted(value, key=str):
            out.update(flatten(value[k], _join(prefix, str(k))))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []}
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


# --------------------------------------------------------------------------- render model


Rid = tuple[str, str]  # (type, name)


@dataclass
class Render:
    label: str
    document: dict

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


# --------------------------------------------------------------------------- sections


@dataclass
class Section:
    title: str
    lines: list[str]


def resources_section(base: Render, head: Render) -> Optional[Section]:
    a, b = base.resources, head.resources
    rows = []
    for rid in sorted(set(a) | set(b)):
        if rid not in a:
            rows.append(("added", rid))
        elif rid not in b:
            rows.append(("removed", rid))
        elif _comparable(a[rid]) != _comparable(b[rid]):
            rows.append(("changed", rid))
    if not rows:
        return None
    counts = Counter(kind for kind, _ in rows)
    order = {"added": 0, "removed": 1, "changed": 2}
    rows.sort(key=lambda r: (order[r[0]], r[1]))
    lines = [", ".join(f"{counts[k]} {k}" for k in ("added", "removed", "changed") if counts[k]) + "."]
    lines += [""] + _table(("change", "type", "name"), ((kind, code(t), code(n)) for kind, (t, n) in rows))
    return Section("Resources", lines)


# ---- Prometheus rules


@dataclass
class Rule:
    resource: str
    group: str
    kind: str  # alert | record
    name: str
    body: dict
    occurrence: int
    duplicates: bool = False

    @property
    def where(self) -> str:
        n = f" #{self.occurrence + 1}" if self.duplicates else ""
        return f"{self.resource} / {self.group}{n}"

    @property
    def severity(self) -> str:
        return str((self.body.get("labels") or {}).get("severity", "-"))


def rules_of(render: Render) -> tuple[dict[tuple, Rule], dict[tuple[str, str], dict]]:
    rules: dict[tuple, Rule] = {}
    groups: dict[tuple[str, str], dict] = {}
    for name, entry in sorted(render.of_type(RULE_TYPE).items()):
        for group in ((entry.get("inputs") or {}).get("spec") or {}).get("groups") or []:
            gname = str(group.get("name"))
            groups[(name, gname)] = {k: v for k, v in group.items() if k not in ("name", "rules")}
            seen: Counter = Counter()
            members = []
            for body in group.get("rules") or []:
                kind = "alert" if "alert" in body else "record"
                rname = str(body.get(kind))
                # Same-named rules in a group (one per SLO severity, one per label set) keep their order.
                key = (name, gname, kind, rname, seen[(kind, rname)])
                seen[(kind, rname)] += 1
                members.append(key)
                rules[key] = Rule(name, gname, kind, rname, body, key[-1])
            for key in members:
                rules[key].duplicates = seen[(key[2], key[3])] > 1
    return rules, groups


def _rule_rows(old: dict, new: dict) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    rows: list[tuple[str, str, str]] = []
    changes: list[tuple[str, str]] = []

    def add(field_name: str, a: Any, b: Any) -> None:
        if a == b:
            return
        if a is None or b is None:
            rows.append((field_name, code(a) if a is not None else "*(none)*", code(b) if b is not None else "*(none)*"))
            return
        o, n, ch = word_diff(a, b)
        rows.append((field_name, o, n))
        changes.extend(ch)

    add("expr", old.get("expr"), new.get("expr"))
    for key in sorted(set(old) | set(new)):
        if key not in ("expr", "labels", "annotations", "alert", "record"):
            add(key, old.get(key), new.get(key))
    for part in ("labels", "annotations"):
        a, b = old.get(part) or {}, new.get(part) or {}
        for key in sorted(set(a) | set(b)):
            add(f"{part}.{key}", a.get(key), b.get(key))
    return rows, changes


def rules_sections(base: Render, head: Render) -> list[Section]:
    a, a_groups = rules_of(base)
    b, b_groups = rules_of(head)
    out: list[Section] = []
    for kind, title in (("alert", "Alerts"), ("record", "Recording rules")):
        lines: list[str] = []
        changed = [k for k in sorted(set(a) & set(b)) if k[2] == kind and a[k].body != b[k].body]
        added = [b[k] for k in sorted(set(b) - set(a)) if k[2] == kind]
        removed = [a[k] for k in sorted(set(a) - set(b)) if k[2] == kind]
        if changed:
            lines.append(f"### Changed ({len(changed)})")
            for key in changed:
                old, new = a[key], b[key]
                rows, changes = _rule_rows(old.body, new.body)
                summary = _change_summary(changes)
                severity = f", severity {code(new.severity)}" if kind == "alert" else ""
                lines += ["", f"#### {code(new.name)} ({new.where}{severity})"]
                if summary:
                    lines.append(f"Changed values: {summary}")
                lines += [""] + _table(("field", "old", "new"), rows) + [""]
        for label, items in (("Added", added), ("Removed", removed)):
            if items:
                lines += [f"### {label} ({len(items)})", ""]
                header = ("name", "where", "severity", "for", "expr") if kind == "alert" else ("name", "where", "expr")
                rows = []
                for r in items:
                    cells = [code(r.name), r.where]
                    if kind == "alert":
                        cells += [code(r.severity), code(r.body.get("for", "-"))]
                    rows.append(cells + [code(r.body.get("expr"), 160)])
                lines += _table(header, rows) + [""]
        if kind == "alert":
            group_lines = []
            for gkey in sorted(set(a_groups) & set(b_groups)):
                d = flat_diff(a_groups[gkey], b_groups[gkey])
                for line in _flat_lines(d):
                    group_lines.append(f"- group {code(gkey[0] + ' / ' + gkey[1])}: {line[2:]}")
            if group_lines:
                lines += ["### Rule groups", ""] + group_lines + [""]
        if lines:
            out.append(Section(title, _trim(lines)))
    return out


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines.pop()
    return lines


# ---- Alertmanager


def _secret_texts(entry: dict) -> dict[str, Any]:
    inputs = entry.get("inputs") or {}
    texts: dict[str, Any] = {}
    for k, v in (inputs.get("data") or {}).items():
        try:
            texts[k] = base64.b64decode(v, validate=True).decode("utf-8") if isinstance(v, str) else v
        except (binascii.Error, UnicodeDecodeError):
            texts[k] = v
    texts.update(inputs.get("stringData") or {})
    return texts


def alertmanager_configs(render: Render) -> dict[str, Any]:
    """Secret name -> parsed alertmanager.yaml (None when masked or unreadable)."""
    configs: dict[str, Any] = {}
    for name, entry in render.of_type(SECRET_TYPE).items():
        texts = _secret_texts(entry)
        if "alertmanager.yaml" in texts:
            try:
                parsed = yaml.safe_load(texts["alertmanager.yaml"])
            except yaml.YAMLError:
                parsed = None
            configs[name] = parsed if isinstance(parsed, dict) else None
    return configs


_ROUTE_FIELDS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
                 "mute_time_intervals", "active_time_intervals")
_TIMING_FIELDS = ("group_wait", "group_interval", "repeat_interval")


def _matchers(route: dict) -> str:
    parts = [str(m) for m in route.get("matchers") or []]
    parts += [f'{k}="{v}"' for k, v in sorted((route.get("match") or {}).items())]
    parts += [f'{k}=~"{v}"' for k, v in sorted((route.get("match_re") or {}).items())]
    return ", ".join(parts) or "(any)"


def _routes(route: dict, path: str = "root") -> list[tuple[str, dict]]:
    out = [(path, {k: route.get(k) for k in _ROUTE_FIELDS if k in route})]
    seen: Counter = Counter()
    for child in route.get("routes") or []:
        m = _matchers(child)
        seen[m] += 1
        label = m if seen[m] == 1 else f"{m} #{seen[m]}"
        out += _routes(child, label if path == "root" else f"{path} › {label}")
    return out


def _inhibition(rule: dict) -> str:
    def side(prefix: str) -> str:
        parts = [str(m) for m in rule.get(f"{prefix}_matchers") or []]
        parts += [f'{k}="{v}"' for k, v in sorted((rule.get(f"{prefix}_match") or {}).items())]
        parts += [f'{k}=~"{v}"' for k, v in sorted((rule.get(f"{prefix}_match_re") or {}).items())]
        return ", ".join(parts) or "(any)"

    return f"{side('source')} ⇒ mutes {side('target')} (equal: {', '.join(map(str, rule.get('equal') or [])) or '-'})"


def _or_inherited(value: Any) -> str:
    return code(value) if value is not None else "*(inherited)*"


def _integrations(receiver: dict) -> str:
    kinds = []
    for k, v in sorted(receiver.items()):
        if k.endswith("_configs") and isinstance(v, list):
            channels = [c.get("channel") for c in v if isinstance(c, dict) and c.get("channel")]
            kinds.append(k[: -len("_configs")] + (f" ({', '.join(channels)})" if channels else ""))
    return ", ".join(kinds) or "(no integration)"


def _receiver_changes(old: dict, new: dict) -> list[str]:
    diff = flat_diff({k: v for k, v in old.items() if k != "name"}, {k: v for k, v in new.items() if k != "name"},
                     expand_text=False)
    lines = []
    for path in diff.paths():
        leaf = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.split(".")[-1])
        leaf_name = leaf[0] if leaf else path
        values = diff.changed.get(path)
        what = "added" if path in diff.added else "removed" if path in diff.removed else "changed"
        safe = (values is not None and not any(_sensitive(p) for p in re.findall(r"[A-Za-z_]+", path))
                and all(isinstance(v, (str, int, float, bool)) and len(_one_line(v)) <= 60 for v in values))
        if safe and values is not None:
            lines.append(f"{code(path)}: {code(values[0])} → **{code(values[1])}**")
        else:
            lines.append(f"{code(path)} {what}" + (" (value not shown)" if _sensitive(leaf_name) else ""))
    return lines


def alertmanager_section(base: Render, head: Render) -> Optional[Section]:
    a, b = alertmanager_configs(base), alertmanager_configs(head)
    lines: list[str] = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            lines.append(f"- Alertmanager config Secret {code(name)} {'added' if name in b else 'removed'}.")
            continue
        old, new = a[name], b[name]
        if old == new:
            continue
        if old is None or new is None:
            lines.append(f"- {code(name)}: alertmanager.yaml is masked or unreadable on one side; it changed.")
            continue
        sub: list[str] = []
        # Timings: the root route's and global.resolve_timeout.
        rows = []
        for key in _TIMING_FIELDS + ("group_by",):
            x, y = (old.get("route") or {}).get(key), (new.get("route") or {}).get(key)
            if x != y:
                rows.append((f"route.{key}", code(x) if x is not None else "*(default)*", f"**{code(y)}**" if y is not None else "*(default)*"))
        og, ng = old.get("global") or {}, new.get("global") or {}
        for key in sorted(set(og) | set(ng)):
            if og.get(key) != ng.get(key):
                if _sensitive(key):
                    rows.append((f"global.{key}", "*(not shown)*", "*(changed)*"))
                else:
                    rows.append((f"global.{key}", code(og.get(key)), f"**{code(ng.get(key))}**"))
        if rows:
            sub += ["#### Timings", ""] + _table(("setting", "old", "new"), rows) + [""]
        # Routes, by matcher path.
        ro, rn = _routes(old.get("route") or {}), _routes(new.get("route") or {})
        do, dn = dict(ro), dict(rn)
        route_lines = []
        for path in [p for p, _ in rn if p not in do]:
            route_lines.append(f"- added: {code(path)} → receiver {code(dn[path].get('receiver', '(inherited)'))}")
        for path in [p for p, _ in ro if p not in dn]:
            route_lines.append(f"- removed: {code(path)} (was → receiver {code(do[path].get('receiver', '(inherited)'))})")
        for path, fields in rn:
            if path not in do:
                continue
            skip = _TIMING_FIELDS + ("group_by",) if path == "root" else ()  # root timings: table above
            changes = []
            for key in _ROUTE_FIELDS:
                x, y = do[path].get(key), fields.get(key)
                if key not in skip and x != y:
                    changes.append(f"{key} {_or_inherited(x)} → **{_or_inherited(y)}**")
            if changes:
                route_lines.append(f"- {code(path)}: " + "; ".join(changes))
        common_old = [p for p, _ in ro if p in dn]
        common_new = [p for p, _ in rn if p in do]
        if common_old != common_new:
            route_lines.append("- order changed (first match wins): " + " → ".join(code(p) for p in common_new))
        if route_lines:
            sub += ["#### Routes", ""] + route_lines + [""]
        # Receivers, by name; never their credentials.
        rco = {r.get("name"): r for r in old.get("receivers") or [] if isinstance(r, dict)}
        rcn = {r.get("name"): r for r in new.get("receivers") or [] if isinstance(r, dict)}
        rec_lines = []
        for rname in sorted(set(rcn) - set(rco), key=str):
            rec_lines.append(f"- added: {code(rname)} ({_integrations(rcn[rname])})")
        for rname in sorted(set(rco) - set(rcn), key=str):
            rec_lines.append(f"- removed: {code(rname)} ({_integrations(rco[rname])})")
        for rname in sorted(set(rco) & set(rcn), key=str):
            if rco[rname] != rcn[rname]:
                rec_lines.append(f"- changed: {code(rname)}: " + "; ".join(_receiver_changes(rco[rname], rcn[rname])))
        used = {f.get("receiver") for _, f in rn if f.get("receiver")}
        for missing in sorted(used - set(rcn), key=str):
            rec_lines.append(f"- ⚠ a route sends to {code(missing)}, which is not a receiver in the new config")
        if rec_lines:
            sub += ["#### Receivers", ""] + rec_lines + [""]
        # Inhibitions.
        io = [_inhibition(r) for r in old.get("inhibit_rules") or [] if isinstance(r, dict)]
        inn = [_inhibition(r) for r in new.get("inhibit_rules") or [] if isinstance(r, dict)]
        inh_lines = [f"- added: {code(x, 300)}" for x in inn if x not in io]
        inh_lines += [f"- removed: {code(x, 300)}" for x in io if x not in inn]
        if inh_lines:
            sub += ["#### Inhibitions", ""] + inh_lines + [""]
        others = sorted(k for k in set(old) | set(new) if k not in ("route", "receivers", "inhibit_rules", "global")
                        and old.get(k) != new.get(k))
        if others:
            sub += [f"Other top-level settings changed: {', '.join(code(k) for k in others)}", ""]
        if not sub:
            sub = ["Changed only in receiver details that are not shown (credentials or templates).", ""]
        lines += [f"### Config Secret {code(name)}", ""] + sub
    return Section("Alertmanager", _trim(lines)) if lines else None


# ---- SLOs

_OBJECTIVE = "dataops:slo:objective"
_RATIO = re.compile(r"dataops:slo:error_ratio:rate(\w+)\{[^}]*\}\s*>\s*([0-9.eE+-]+)")
_RATIO_RECORD = re.compile(r"^dataops:slo:error_ratio:rate(\w+)$")


def slos_of(render: Render) -> dict[str, dict[str, str]]:
    slos: dict[str, dict[str, Any]] = {}
    rules, _ = rules_of(render)
    for rule in rules.values():
        body = rule.body
        slo = (body.get("labels") or {}).get("slo")
        if not slo:
            continue
        info = slos.setdefault(str(slo), {"windows": []})
        expr = _one_line(body.get("expr", ""))
        if rule.kind == "record":
            if rule.name == _OBJECTIVE:
                m = re.fullmatch(r"vector\((.*)\)", expr)
                info["objective"] = m.group(1).strip() if m else expr
            elif _RATIO_RECORD.match(rule.name):
                info["windows"].append(_RATIO_RECORD.match(rule.name).group(1))
            elif rule.name == "dataops:slo:error_budget_remaining":
                ranges = re.findall(r"\[(\w+)\]", expr)
                if ranges:
                    info["SLO window"] = ranges[-1]
                m = re.search(r"\)\s*/\s*([0-9.eE+-]+)\s*$", expr)
                if m:
                    info["error budget"] = m.group(1)
        else:
            pairs = _RATIO.findall(expr)
            if pairs:
                by_threshold: dict[str, list[str]] = {}
                for window, threshold in pairs:
                    by_threshold.setdefault(threshold, []).append(window)
                text = "; ".join(f"{' & '.join(ws)} > {t}" for t, ws in by_threshold.items())
                info[f"burn ({rule.severity})"] = text + (f" for {body['for']}" if body.get("for") else "")
            elif "error_budget_remaining" in expr:
                m = re.search(r"<\s*([0-9.eE+-]+)", expr)
                info[f"budget exhausted ({rule.severity})"] = (f"< {m.group(1)}" if m else expr) + (
                    f" for {body['for']}" if body.get("for") else "")
    return {k: {f: (", ".join(v) if isinstance(v, list) else v) for f, v in info.items()} for k, info in slos.items()}


def slos_section(base: Render, head: Render) -> Optional[Section]:
    a, b = slos_of(base), slos_of(head)
    lines: list[str] = []
    rows = []
    for slo in sorted(set(a) & set(b)):
        for key in sorted(set(a[slo]) | set(b[slo]), key=lambda k: (k != "objective", k)):
            x, y = a[slo].get(key), b[slo].get(key)
            if x == y:
                continue
            if x is None or y is None:
                rows.append((code(slo), key, code(x) if x else "*(none)*", code(y) if y else "*(none)*"))
            else:
                o, n, _ = word_diff(x, y)
                rows.append((code(slo), key, o, n))
    if rows:
        lines += _table(("SLO", "setting", "old", "new"), rows) + [""]
    for slo in sorted(set(b) - set(a)):
        lines.append(f"- added: {code(slo)} (objective {code(b[slo].get('objective', '?'))}, window {code(b[slo].get('SLO window', '?'))})")
    for slo in sorted(set(a) - set(b)):
        lines.append(f"- removed: {code(slo)} (objective {code(a[slo].get('objective', '?'))})")
    return Section("SLOs", _trim(lines)) if lines else None


# ---- Helm values


def helm_section(base: Render, head: Render) -> Optional[Section]:
    a, b = base.of_type(RELEASE_TYPE), head.of_type(RELEASE_TYPE)
    lines: list[str] = []
    for name in sorted(set(a) & set(b)):
        ia, ib = a[name].get("inputs") or {}, b[name].get("inputs") or {}
        values = flat_diff(ia.get("values") or {}, ib.get("values") or {})
        release = flat_diff({k: v for k, v in ia.items() if k != "values"}, {k: v for k, v in ib.items() if k != "values"},
                            "release")
        if not values and not release:
            continue
        lines += [f"### Release {code(name)}", ""] + _flat_lines(release) + _flat_lines(values) + [""]
    for name in sorted(set(b) - set(a)):
        lines.append(f"- Release {code(name)} added (chart {code((b[name].get('inputs') or {}).get('chart'))}).")
    for name in sorted(set(a) - set(b)):
        lines.append(f"- Release {code(name)} removed.")
    return Section("Helm values", _trim(lines)) if lines else None


# ---- Dashboards


def dashboards_of(render: Render) -> dict[str, dict]:
    out = {}
    for name, entry in render.of_type(CONFIGMAP_TYPE).items():
        for key, text in ((entry.get("inputs") or {}).get("data") or {}).items():
            if not (isinstance(text, str) and key.endswith(".json")):
                continue
            try:
                board = json.loads(text)
            except ValueError:
                continue
            if isinstance(board, dict) and "panels" in board:
                out[f"{name}/{key}"] = board
    return out


def _panels(board: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    seen: Counter = Counter()

    def walk(panels: list, row: str) -> None:
        for panel in panels or []:
            if not isinstance(panel, dict):
                continue
            title = panel.get("title") or f"{panel.get('type', 'panel')} #{panel.get('id', '?')}"
            key = f"{row} › {title}" if row and panel.get("type") != "row" else str(title)
            seen[key] += 1
            if seen[key] > 1:
                key = f"{key} ({seen[key]})"
            out[key] = panel
            walk(panel.get("panels") or [], title if panel.get("type") == "row" else row)

    walk(board.get("panels") or [], "")
    return out


def _query(target: dict) -> Any:
    for k in ("expr", "query", "rawSql", "rawQuery"):
        if k in target:
            return target[k]
    return {k: v for k, v in target.items() if k not in ("refId", "datasource")}


def dashboards_section(base: Render, head: Render) -> Optional[Section]:
    a, b = dashboards_of(base), dashboards_of(head)
    lines: list[str] = []
    for key in sorted(set(b) - set(a)):
        lines.append(f"- dashboard added: {code(b[key].get('title'))} ({code(key)}, {len(_panels(b[key]))} panels)")
    for key in sorted(set(a) - set(b)):
        lines.append(f"- dashboard removed: {code(a[key].get('title'))} ({code(key)})")
    if lines:
        lines.append("")
    for key in sorted(set(a) & set(b)):
        if a[key] == b[key]:
            continue
        old, new = a[key], b[key]
        sub: list[str] = []
        pa, pb = _panels(old), _panels(new)
        for p in [p for p in pb if p not in pa]:
            sub.append(f"- panel added: {code(p)} ({pb[p].get('type')})")
        for p in [p for p in pa if p not in pb]:
            sub.append(f"- panel removed: {code(p)} ({pa[p].get('type')})")
        rows = []
        for p in [p for p in pb if p in pa]:
            ta = {t.get("refId", str(i)): t for i, t in enumerate(pa[p].get("targets") or []) if isinstance(t, dict)}
            tb = {t.get("refId", str(i)): t for i, t in enumerate(pb[p].get("targets") or []) if isinstance(t, dict)}
            for ref in sorted(set(ta) | set(tb)):
                qa, qb = (_query(ta[ref]) if ref in ta else None), (_query(tb[ref]) if ref in tb else None)
                if qa == qb:
                    continue
                if qa is None or qb is None:
                    rows.append((code(p), code(ref), code(qa) if qa is not None else "*(none)*", code(qb) if qb is not None else "*(none)*"))
                else:
                    o, n, _ = word_diff(qa, qb)
                    rows.append((code(p), code(ref), o, n))
            ignore = {"id", "gridPos", "targets", "panels"}
            d = flat_diff({k: v for k, v in pa[p].items() if k not in ignore}, {k: v for k, v in pb[p].items() if k not in ignore})
            if d:
                sub.append(f"- panel {code(p)} settings: " + ", ".join(
                    (f"{code(path)} {code(d.changed[path][0], 40)} → **{code(d.changed[path][1], 40)}**" if path in d.changed
                     else f"{code(path)} {'added' if path in d.added else 'removed'}") for path in d.paths()[:10])
                    + (f" … and {len(d.paths()) - 10} more" if len(d.paths()) > 10 else ""))
        if rows:
            sub += ["", "Queries changed:", ""] + _table(("panel", "refId", "old", "new"), rows) + [""]
        va = {v.get("name"): v for v in (old.get("templating") or {}).get("list") or [] if isinstance(v, dict)}
        vb = {v.get("name"): v for v in (new.get("templating") or {}).get("list") or [] if isinstance(v, dict)}
        var_lines = [f"- variable {code(n)} {'added' if n in vb else 'removed'}" for n in sorted(set(va) ^ set(vb), key=str)]
        var_lines += [f"- variable {code(n)} changed: " + ", ".join(code(p) for p in flat_diff(va[n], vb[n]).paths()[:10])
                      for n in sorted(set(va) & set(vb), key=str) if va[n] != vb[n]]
        sub += var_lines
        ignore = {"panels", "templating"}
        d = flat_diff({k: v for k, v in old.items() if k not in ignore}, {k: v for k, v in new.items() if k not in ignore})
        if d:
            sub += ["- dashboard settings:"] + ["  " + line for line in _flat_lines(d)]
        if not sub:
            sub = ["- layout only (panel positions or ids)"]
        lines += [f"### {code(new.get('title'))} ({code(key)})", ""] + _trim(sub) + [""]
    return Section("Dashboards", _trim(lines)) if lines else None


# ---- Secrets


def secrets_section(base: Render, head: Render) -> Optional[Section]:
    a, b = base.of_type(SECRET_TYPE), head.of_type(SECRET_TYPE)
    rows = []
    unchanged = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            rows.append((code(name), "added"))
        elif name not in b:
            rows.append((code(name), "removed"))
        elif _comparable(a[name]) != _comparable(b[name]):
            rows.append((code(name), "changed"))
        else:
            unchanged.append(name)
    pa, pb = set(base.document.get("placeholderSecrets") or []), set(head.document.get("placeholderSecrets") or [])
    lines: list[str] = []
    if rows:
        lines += _table(("Secret", "status"), rows) + [""]
        if unchanged:
            lines += ["Unchanged: " + ", ".join(code(n) for n in unchanged) + ".", ""]
        lines.append("Values are never shown; the render masks them, so a rotated value alone does not show here.")
    for key in sorted(pb - pa):
        lines.append(f"- config secret {code(key)} now has no value in the stack file (placeholder in the render)")
    for key in sorted(pa - pb):
        lines.append(f"- config secret {code(key)} now has a value in the stack file")
    return Section("Secrets", _trim(lines)) if lines else None


# ---- Everything else


def other_section(base: Render, head: Render) -> Optional[Section]:
    a, b = base.resources, head.resources
    dash_maps = {k.split("/", 1)[0] for k in {**dashboards_of(base), **dashboards_of(head)}}
    lines: list[str] = []
    for rid in sorted(set(a) & set(b)):
        rtype, name = rid
        if rtype == SECRET_TYPE or _comparable(a[rid]) == _comparable(b[rid]):
            continue
        old, new = _comparable(a[rid]), _comparable(b[rid])
        old["inputs"], new["inputs"] = dict(old["inputs"] or {}), dict(new["inputs"] or {})
        if rtype == RULE_TYPE:
            for side in (old, new):
                spec = dict(side["inputs"].get("spec") or {})
                spec.pop("groups", None)
                side["inputs"]["spec"] = spec
        elif rtype == RELEASE_TYPE:
            old["inputs"], new["inputs"] = {}, {}
        elif rtype == CONFIGMAP_TYPE and name in dash_maps:
            for side in (old, new):
                side["inputs"].pop("data", None)
        d = flat_diff(old, new)
        if d:
            lines += [f"### {code(rtype)} {code(name)}", ""] + _flat_lines(d) + [""]
    return Section("Other changes", _trim(lines)) if lines else None


def outputs_section(base: Render, head: Render) -> Optional[Section]:
    d = flat_diff(base.document.get("outputs") or {}, head.document.get("outputs") or {})
    return Section("Stack outputs", _flat_lines(d)) if d else None


# --------------------------------------------------------------------------- report


def _strip_volatile(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "note"}


def report(base: Render, head: Render, stack: Optional[str] = None) -> tuple[str, bool]:
    """(Markdown, changed?)."""
    stack = stack or head.document.get("stack") or base.document.get("stack") or "?"
    lines = [f"# Review diff: stack `{stack}`", "", f"- base: {base.label}", f"- head: {head.label}", ""]
    if _strip_volatile(base.document) == _strip_volatile(head.document):
        return "\n".join(lines + [NO_CHANGES]) + "\n", False
    sections: list[Optional[Section]] = [resources_section(base, head)]
    sections += rules_sections(base, head)
    sections += [alertmanager_section(base, head), slos_section(base, head), helm_section(base, head),
                 dashboards_section(base, head), secrets_section(base, head), other_section(base, head),
                 outputs_section(base, head)]
    present = [s for s in sections if s]
    if base.document.get("stack") != head.document.get("stack"):
        lines += [f"Note: comparing stack {code(base.document.get('stack'))} with {code(head.document.get('stack'))}.", ""]
    if not present:  # only metadata differed
        present = [Section("Other changes", ["The documents differ only outside resources and outputs."])]
    lines.append("Sections: " + ", ".join(s.title for s in present) + ".")
    for s in present:
        lines += ["", f"## {s.title}", ""] + s.lines
    text = "\n".join(lines) + "\n"
    return scrub(text, secret_values(base, head)), True


# --------------------------------------------------------------------------- git + render


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def resolve_ref(ref: str) -> str:
    if not ref or ref.startswith("-"):
        raise DiffError(f"cannot read git ref {ref!r}: not a ref")
    proc = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise DiffError(f"cannot read git ref {ref!r}: no such commit in {ROOT} (try: git fetch; git log --oneline {ref})")
    return proc.stdout.strip()


@contextlib.contextmanager
def worktree(sha: str) -> Iterator[Path]:
    """A detached worktree of ``sha`` in a temporary folder, removed however we leave."""
    tmp = Path(tempfile.mkdtemp(prefix="review-diff-"))
    tree = tmp / "tree"
    try:
        proc = _git("worktree", "add", "--detach", "--quiet", str(tree), sha)
        if proc.returncode != 0:
            raise DiffError(f"git worktree add failed for {sha[:12]}: {_last_line(proc.stderr)}")
        yield tree
    finally:
        if _git("worktree", "remove", "--force", str(tree)).returncode != 0 and tree.exists():
            shutil.rmtree(tree, ignore_errors=True)
            _git("worktree", "prune")
        shutil.rmtree(tmp, ignore_errors=True)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def render_tree(tree: Path, stack: str, label: str) -> Render:
    """Run that tree's own ``tools.render`` for ``stack`` and load what it wrote."""
    if not (tree / f"Pulumi.{stack}.yaml").exists():
        return Render(f"{label} (no Pulumi.{stack}.yaml: empty)", {"stack": stack, "resources": [], "outputs": {}})
    with tempfile.TemporaryDirectory(prefix="review-diff-out-") as out:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PULUMI_CONFIG")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.run([_python(), "-m", "tools.render", stack, "--out", out], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise DiffError(f"render of stack {stack!r} at {label} failed (exit {proc.returncode}): {_last_line(proc.stderr)}",
                            detail=proc.stderr)
        return load_render(Path(out) / "resources.json", label)


def render_ref(ref: str, stack: str, sha: Optional[str] = None) -> Render:
    """``stack`` as committed at ``ref`` (at ``sha`` when the caller resolved it already:
    a branch that moves meanwhile does not change what is compared)."""
    sha = sha or resolve_ref(ref)
    label = f"`{sha[:12]}`" if sha.startswith(ref) else f"`{ref}` ({sha[:12]})"
    with worktree(sha) as tree:
        return render_tree(tree, stack, label)


# --------------------------------------------------------------------------- CLI


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.review_diff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", nargs="?", help="stack to render (reads Pulumi.<stack>.yaml at each side)")
    parser.add_argument("--base", help="git ref of the base side (rendered in a temporary worktree)")
    parser.add_argument("--head", help="git ref of the head side (default: the working tree as it is)")
    parser.add_argument("--base-render", type=Path, help="an existing resources.json for the base side")
    parser.add_argument("--head-render", type=Path, help="an existing resources.json for the head side")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--fail-on-change", action="store_true", help="exit 1 when anything differs")
    args = parser.parse_args(argv)

    try:
        if args.base_render or args.head_render:
            if not (args.base_render and args.head_render) or args.base or args.head:
                parser.error("--base-render and --head-render go together, without --base/--head")
            base, head = load_render(args.base_render), load_render(args.head_render)
            stack = args.stack
        else:
            if not args.stack or not args.base:
                parser.error("give STACK and --base REF (or --base-render and --head-render)")
            stack = args.stack
            # Both refs are resolved once, before the first render.
            base_sha = resolve_ref(args.base)
            head_sha = resolve_ref(args.head) if args.head else None
            base = render_ref(args.base, stack, base_sha)
            head = render_ref(args.head, stack, head_sha) if args.head else render_tree(ROOT, stack, "working tree")
        text, changed = report(base, head, stack)
    except DiffError as err:
        print(f"review_diff: error: {err}", file=sys.stderr)
        if err.detail:
            print(err.detail.rstrip(), file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 1 if changed and args.fail_on_change else 0


if __name__ == "__main__":
    sys.exit(main())
