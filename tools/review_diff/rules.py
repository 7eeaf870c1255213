"""Sections: resources added/removed/changed, alerts and recording rules."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional


from tools.review_diff.text import RULE_TYPE, _change_summary, _flat_lines, _table, code, flat_diff, word_diff
from tools.review_diff.model import Render, _comparable


# --------------------------------------------------------------------------- sections


@dataclass
class Section:
    title: str
    lines: list[str]


def component(entry: dict) -> str:
    """``dataops:monitoring:HiveMonitoring::hive`` -> ``HiveMonitoring hive``; the stack itself -> ``stack``."""
    parent = str(entry.get("parent") or "")
    if not parent or parent.startswith("pulumi:pulumi:Stack"):
        return "stack"
    kind, _, name = parent.partition("::")
    return f"{kind.rsplit(':', 1)[-1]} {name}".strip()


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
    # The component (parent) that brings each resource: why a blackbox_exporter appears, say.
    lines += [""] + _table(("change", "type", "name", "component"),
                           ((kind, code(t), code(n), component(b.get((t, n)) or a[(t, n)])) for kind, (t, n) in rows))
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


