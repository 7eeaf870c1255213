"""Every dashboard panel and template-variable query against the same Prometheus."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Optional


from tools.gameday.common import seconds
from tools.gameday.runtime import prom_api


# --------------------------------------------------------------------------------------------
# Dashboards against the same Prometheus
# --------------------------------------------------------------------------------------------


def strip_external_matchers(expr: str, external: dict[str, str], values: dict[str, str]) -> str:
    """Remove matchers on external labels, as Thanos Query does after matching them against a store.

    The dashboards' datasource is Thanos Query, which adds each store's external labels
    (cluster, environment, ...) to every series and answers ``cluster=~"dataops-prod"`` by
    selecting the stores whose external labels match. A plain Prometheus keeps external
    labels out of queries, so the check does the same: a matcher on an external label must
    match that label's value (else the query is empty) and is then removed.
    """
    for label, value in external.items():
        pattern = re.compile(r'(,\s*)?(?<![A-Za-z0-9_])' + re.escape(label) + r'\s*(=~|=|!=|!~)\s*"((?:[^"\\]|\\.)*)"(\s*,)?')

        def repl(m: re.Match, label: str = label, value: str = value) -> str:
            op, raw = m.group(2), m.group(3)
            for name, v in values.items():
                raw = raw.replace(f"${{{name}}}", v).replace(f"${name}", v)
            ok = {"=": value == raw, "!=": value != raw, "=~": re.fullmatch(raw, value) is not None, "!~": re.fullmatch(raw, value) is None}[op]
            if not ok:
                raise LookupError(f"{label}{op}{raw!r} excludes this Prometheus ({label}={value!r})")
            return "," if m.group(1) and m.group(4) else ""

        expr = pattern.sub(repl, expr)
    return expr


def substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    return expr.replace("$__rate_interval", "2m").replace("$__interval", "30s").replace("$__range", "6h")


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def variable_values(base: str, query: str, external: dict[str, str], values: dict[str, str]) -> list[str]:
    m = _LABEL_VALUES.match(query)
    if not m:
        raise ValueError(f"unsupported variable query {query!r}")
    selector, label = m.group(1), m.group(2)
    if selector:
        selector = substitute(strip_external_matchers(selector, external, values), values)
    if label in external:
        series = prom_api(base, "/api/v1/series", {"match[]": selector or "up", "start": time.time() - 3600})
        return [external[label]] if series else []
    params: dict[str, Any] = {"start": time.time() - 6 * 3600}
    if selector:
        params["match[]"] = selector
    return sorted(prom_api(base, f"/api/v1/label/{label}/values", params))


@dataclass
class PanelCheck:
    dashboard: str
    panel: str
    expr: str
    series: int
    error: Optional[str] = None
    description: str = ""


def dashboard_checks(base: str, external: dict[str, str], models: list[dict]) -> tuple[list[PanelCheck], list[PanelCheck]]:
    """(variables, panels): every template-variable and panel query of the dashboards the
    stack deploys (``models``: its rendered ConfigMaps, rows of parts it lacks left out)."""
    var_checks, panel_checks = [], []
    for model in models:
        title = model.get("title", model.get("uid", "?"))
        values: dict[str, str] = {}
        for var in (model.get("templating") or {}).get("list") or []:
            if var.get("type") != "query":
                continue
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            try:
                found = variable_values(base, query, external, values)
                error = None
            except (LookupError, ValueError, OSError) as err:
                found, error = [], str(err)
            var_checks.append(PanelCheck(title, f"${var['name']}", query, len(found), error))
            if var.get("includeAll") or var.get("multi"):
                values[var["name"]] = var.get("allValue") or ("(" + "|".join(re.escape(v) for v in found) + ")" if found else "")
            else:
                values[var["name"]] = re.escape(found[0]) if found else ""

        def panels(items):
            for p in items:
                yield p
                yield from panels(p.get("panels") or [])

        time_from = ((model.get("time") or {}).get("from") or "now-6h").replace("now-", "")
        span = min(seconds(time_from) if re.fullmatch(r"\d+[smhdw]", time_from) else 6 * 3600, 6 * 3600)
        for panel in panels(model.get("panels") or []):
            for target in panel.get("targets") or []:
                expr = target.get("expr")
                if not expr:
                    continue
                try:
                    q = substitute(strip_external_matchers(expr, external, values), values)
                    # As Grafana: a range query over the dashboard's time range unless the target is instant.
                    if not target.get("instant"):
                        now = time.time()
                        data = prom_api(base, "/api/v1/query_range", {"query": q, "start": now - span, "end": now, "step": max(30, int(span / 720))})
                    else:
                        data = prom_api(base, "/api/v1/query", {"query": q})
                    n, error = len(data.get("result") or []), None
                except (LookupError, ValueError, OSError) as err:
                    n, error = 0, str(err)[:300]
                panel_checks.append(PanelCheck(title, panel.get("title", "?"), expr, n, error, panel.get("description") or ""))
    return var_checks, panel_checks


# A panel "says" it shows only failures when its description says it is empty when healthy.
FAILURE_ONLY = re.compile(r"\bempty\b|비어|비면", re.I)


def why_empty(expr: str, recorded: set[str], served: set[str], jobs: set[str] = frozenset(),
              real: Optional[dict[str, str]] = None, rules: Optional[dict[str, set[str]]] = None,
              slow: Optional[dict[str, str]] = None) -> str:
    """What an empty query reads that this stack cannot have: names no rendered rule records, raw
    names no target serves; or names a real program started with this run serves (``real``:
    name -> program), directly or through the recording rules (``rules``: record -> names read);
    or records of groups evaluated every 5 min or slower (``slow``: record -> interval)."""
    from tests.rules_util import promql_metric_names

    names = promql_metric_names(re.sub(r"\$\{?\w+\}?", "x", expr))
    late = sorted(n for n in names if n in (slow or {}))
    if late:
        return (f"reads {', '.join(late)}, recorded every {(slow or {})[late[0]]}: backfilled at that step and not yet "
                "evaluated live, its last backfilled sample can be older than the 5 min lookback")
    fresh = _raw_names(names, rules or {}) & set(real or {})
    if fresh:
        programs = sorted({(real or {})[n] for n in fresh})
        return (f"reads {', '.join(sorted(fresh))} from a real program started with this run ({'; '.join(programs)}): "
                "no backfilled history, and rates need two scrapes after a change")
    missing_rules = sorted(n for n in names if ":" in n and n not in recorded)
    missing_raw = sorted(n for n in names if ":" not in n and n not in served and n not in ("up", "ALERTS"))
    parts = []
    if missing_rules:
        parts.append("no rendered rule records " + ", ".join(missing_rules))
    if missing_raw:
        parts.append("no emulated target serves " + ", ".join(missing_raw))
    for regex in re.findall(r'up\{[^}]*job=~"([^"]+)"', expr):
        if jobs and not any(re.fullmatch(regex, j) for j in jobs):
            parts.append(f"no scrape job matches job=~{regex!r} (not in this stack's emulated targets)")
    return "; ".join(parts) or "its inputs exist: the query selects nothing while healthy"


def _raw_names(names: set[str], rules: dict[str, set[str]]) -> set[str]:
    """``names`` with recorded ones replaced by the raw names their rules read (transitively)."""
    out: set[str] = set()
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in rules:
            todo.extend(rules[name])
        else:
            out.add(name)
    return out


def format_dashboards(var_checks: list[PanelCheck], panel_checks: list[PanelCheck], recorded: set[str] = frozenset(),
                      served: set[str] = frozenset(), jobs: set[str] = frozenset(), later: Optional[list[PanelCheck]] = None,
                      real: Optional[dict[str, str]] = None, rules: Optional[dict[str, set[str]]] = None,
                      slow: Optional[dict[str, str]] = None) -> str:
    lines = []
    vars_ok = sum(1 for c in var_checks if c.series and not c.error)
    lines.append(f"Template variables with values: {vars_ok}/{len(var_checks)}")
    for c in var_checks:
        if not c.series or c.error:
            lines.append(f"  EMPTY variable  {c.dashboard} {c.panel}: {c.expr}" + (f" ({c.error})" if c.error else ""))
    ok = sum(1 for c in panel_checks if c.series and not c.error)
    lines.append(f"Panel queries with data: {ok}/{len(panel_checks)}")
    for c in panel_checks:
        if c.series and not c.error:
            continue
        says = bool(FAILURE_ONLY.search(c.description))
        kind = "empty (failure-only panel, says so)" if says and not c.error else ("ERROR" if c.error else "EMPTY (defect unless failure-only)")
        lines.append(f"  {kind}  {c.dashboard} / {c.panel}: {' '.join(c.expr.split())[:160]}" + (f" -- {c.error}" if c.error else ""))
        if not c.error:
            lines.append(f"      why: {why_empty(c.expr, set(recorded), set(served), set(jobs), real, rules, slow)}")
        again = next((x for x in later or [] if (x.dashboard, x.panel, x.expr) == (c.dashboard, c.panel, c.expr)), None)
        if again is not None:
            lines.append("      after the scenarios: " + (f"data ({again.series} series: incident still in its window, or a 5m group evaluated since)" if again.series else "still empty"))
    return "\n".join(lines)


def dashboards_ok(var_checks: list[PanelCheck], panel_checks: list[PanelCheck]) -> bool:
    return all(c.series and not c.error for c in var_checks) and all(
        (c.series and not c.error) or (not c.error and FAILURE_ONLY.search(c.description)) for c in panel_checks
    )


