"""Sections: SLOs, Helm values, dashboards, secrets (changed/unchanged), other fields, outputs."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Optional


from tools.review_diff.text import CONFIGMAP_TYPE, RELEASE_TYPE, RULE_TYPE, SECRET_TYPE, _flat_lines, _one_line, _table, code, flat_diff, word_diff
from tools.review_diff.model import Render, _comparable
from tools.review_diff.rules import Section, _trim, rules_of


# ---- SLOs


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[duration[-1]]

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
                # The budget's window is its longest range, subqueries ([30d:5m]) included.
                ranges = re.findall(r"\[(\d+[smhdwy])(?::\w*)?\]", expr)
                if ranges:
                    info["SLO window"] = max(ranges, key=_seconds)
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
    # Secrets of layers a stack does not deploy are not its business (renders list them as unusedSecrets).
    pa = set(base.document.get("placeholderSecrets") or []) - set(base.document.get("unusedSecrets") or [])
    pb = set(head.document.get("placeholderSecrets") or []) - set(head.document.get("unusedSecrets") or [])
    da, db = base.document.get("secureValueDigests") or {}, head.document.get("secureValueDigests") or {}
    lines: list[str] = []
    if rows:
        lines += _table(("Secret", "status"), rows) + [""]
        if unchanged:
            lines += ["Unchanged: " + ", ".join(code(n) for n in unchanged) + ".", ""]
        lines.append("Values are never shown (the render masks them); a rotation shows below as a changed encrypted value.")
    # The offline render cannot decrypt: a rotated secret renders the same, but its ciphertext
    # in the stack file changes (tools.mock_engine.ciphertext_digest).
    for key in sorted(set(da) & set(db)):
        if da[key] != db[key]:
            lines.append(f"- config secret {code(key)}: its encrypted value in the stack file changed "
                         "(set again: a rotated value, or the same value re-encrypted)")
    for key in sorted(set(db) - set(da)):
        lines.append(f"- config secret {code(key)}: encrypted value added to the stack file")
    for key in sorted(set(da) - set(db)):
        lines.append(f"- config secret {code(key)}: encrypted value removed from the stack file")
    new_stack = not base.document.get("resources")
    for key in sorted(pb - pa):
        lines.append(f"- config secret {code(key)} " + ("is read by this stack and has no value in the stack file (placeholder in the render): "
                     "set it with `pulumi config set --secret` where it is required" if new_stack else "now has no value in the stack file (placeholder in the render)"))
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


