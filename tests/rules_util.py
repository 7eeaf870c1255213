"""Helpers shared by the rule and metrics-catalog tests.

* ``RULES_DIR`` / ``load_rule_files()``: every ``rules/*.rules.yaml``, parsed.
* ``promql_metric_names(expr)``: the metric names a PromQL expression reads.
* ``load_catalog()``: every ``docs/metrics/*.yaml`` entry, with histogram and
  summary ``series`` suffixes expanded into their own names.
* ``recorded_names()``: the names our recording rules produce.

Plain functions, no pytest fixtures, so any test module can import them
(``from rules_util import ...``; pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "rules"
RULE_TESTS_DIR = RULES_DIR / "tests"
CATALOG_DIR = ROOT / "docs" / "metrics"

CATALOG_KEYS = ("name", "source", "type", "labels", "verified_against", "help")

# PromQL words that look like identifiers but are never metric names.
KEYWORDS = frozenset(
    {
        # aggregation / binary modifiers
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
        "offset", "and", "or", "unless", "atan2",
        # aggregation operators
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
        "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
        # literals
        "inf", "nan",
    }
)

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
)
_NAME_MATCHER = re.compile(
    r"""__name__\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
)


def _skip_string(expr: str, i: int) -> int:
    """Return the index just past the string literal starting at ``expr[i]``."""
    quote = expr[i]
    j = i + 1
    while j < len(expr):
        c = expr[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote:
            return j + 1
        j += 1
    raise ValueError(f"unterminated string literal in {expr!r}")


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "`":
        return body
    return bytes(body, "utf-8").decode("unicode_escape")


def _skip_braces(expr: str, i: int, names: set[str]) -> int:
    """Skip a ``{...}`` label-matcher block; collect ``__name__="x"`` names."""
    j = i + 1
    start = j
    while j < len(expr) and expr[j] != "}":
        if expr[j] in "\"'`":
            j = _skip_string(expr, j)
        else:
            j += 1
    if j >= len(expr):
        raise ValueError(f"unbalanced '{{' in {expr!r}")
    for op, literal in _NAME_MATCHER.findall(expr[start:j]):
        if op == "=":
            names.add(_unquote(literal))
        elif op == "=~":
            value = _unquote(literal)
            # A plain alternation of names is still a list of metric names.
            if re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\|[a-zA-Z_:][a-zA-Z0-9_:]*)*", value):
                names.update(value.split("|"))
    return j + 1


def _skip_brackets(expr: str, i: int) -> int:
    """Skip a ``[...]`` range or subquery selector (durations only)."""
    j = expr.index("]", i)
    return j + 1


def promql_metric_names(expr: str) -> set[str]:
    """Metric names read by a PromQL expression.

    A hand tokenizer, not a parser: it skips comments, string literals, label
    matchers inside ``{}``, ``[...]`` ranges, durations and numbers; drops
    keywords and anything followed by ``(`` (functions, aggregations); and
    keeps label names after by/without/on/ignoring/group_left/group_right out.
    ``{__name__="x"}`` (and ``=~"a|b"``) counts as reading ``x`` (``a``, ``b``).
    Names inside ``absent(...)`` are reported like any other.
    """
    names: set[str] = set()
    i = 0
    n = len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            nl = expr.find("\n", i)
            i = n if nl == -1 else nl + 1
        elif c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "{":
            i = _skip_braces(expr, i, names)
        elif c == "[":
            i = _skip_brackets(expr, i)
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = _DURATION.match(expr, i)
            if m and not (m.end() < n and (expr[m.end()].isalnum() or expr[m.end()] == "_")):
                i = m.end()
                continue
            m = _NUMBER.match(expr, i)
            i = m.end() if m else i + 1
        elif c.isalpha() or c in "_:":
            m = _IDENT.match(expr, i)
            word = m.group(0)
            i = m.end()
            j = i
            while j < n and expr[j].isspace():
                j += 1
            nxt = expr[j] if j < n else ""
            low = word.lower()
            if low in ("by", "without", "on", "ignoring", "group_left", "group_right"):
                # Skip the following label list "( a, b )" if present.
                if nxt == "(":
                    i = expr.index(")", j) + 1
                continue
            if low in KEYWORDS:
                continue
            if nxt == "(":
                continue  # function call or aggregation
            names.add(word)
        else:
            i += 1
    return names


def load_rule_files() -> dict[Path, dict[str, Any]]:
    """Every ``rules/*.rules.yaml``, parsed, keyed by path (sorted)."""
    return {
        path: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(RULES_DIR.glob("*.rules.yaml"))
    }


def iter_rules(rule_files: dict[Path, dict[str, Any]] | None = None):
    """Yield ``(path, group_name, rule)`` for every rule of every file."""
    if rule_files is None:
        rule_files = load_rule_files()
    for path, doc in rule_files.items():
        for group in (doc or {}).get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                yield path, group["name"], rule


def recorded_names(rule_files: dict[Path, dict[str, Any]] | None = None) -> set[str]:
    """Names recorded by our recording rules."""
    return {rule["record"] for _, _, rule in iter_rules(rule_files) if "record" in rule}


def load_catalog_entries() -> list[tuple[Path, dict[str, Any]]]:
    """Raw catalog entries as ``(file, entry)``, unexpanded."""
    entries = []
    for path in sorted(CATALOG_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(doc, list):
            raise ValueError(f"{path}: the catalog must be a YAML list")
        entries.extend((path, entry) for entry in doc)
    return entries


def load_catalog() -> dict[str, dict[str, Any]]:
    """Catalog by metric name; ``series`` suffixes expand to their own names.

    ``{name: foo_seconds, series: [_bucket, _sum, _count]}`` yields
    ``foo_seconds``, ``foo_seconds_bucket``, ``foo_seconds_sum`` and
    ``foo_seconds_count``, all pointing at the same entry.
    """
    catalog: dict[str, dict[str, Any]] = {}
    for path, entry in load_catalog_entries():
        entry = dict(entry, catalog_file=path.name)
        catalog[entry["name"]] = entry
        for suffix in entry.get("series") or []:
            catalog[entry["name"] + suffix] = entry
    return catalog


def unknown_metric_names(expr: str, known: set[str]) -> set[str]:
    """Names an expression reads that are neither catalogued nor recorded."""
    return promql_metric_names(expr) - known


def as_deployed(domain: str, dashboard: str, groups: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``rules/<domain>.rules.yaml`` (or ``groups``) as a stack with the default links deploys it."""
    from core.rules import Links, domain_rule_groups
    from settings import SCHEMA_BY_KEY

    links = Links(SCHEMA_BY_KEY["runbookBaseUrl"].default, SCHEMA_BY_KEY["grafanaUrl"].default)
    return links.annotate(domain_rule_groups(domain) if groups is None else groups, dashboard)


def deployed_alerts():
    """(rule file, alert) for every alert of every domain, with the links a default stack deploys."""
    import importlib

    domains = {"slo": "components.slo.rules", "jvm": "components.spark"}
    for path in sorted(RULES_DIR.glob("*.rules.yaml")):
        domain = path.name.split(".", 1)[0]
        module = importlib.import_module(domains.get(domain, f"components.{domain}"))
        for group in as_deployed(domain, module.DASHBOARD):
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path.name, rule


def names_read_by_rules_and_dashboards() -> dict[str, set[str]]:
    """Raw metric names the rules and dashboards read (recording rules expanded) -> who reads them."""
    recorded: dict[str, set[str]] = {}
    readers: dict[str, set[str]] = {}
    for path, _, rule in iter_rules():
        names = promql_metric_names(rule["expr"])
        if "record" in rule:
            recorded.setdefault(rule["record"], set()).update(names)
        for name in names:
            readers.setdefault(name, set()).add(f"{path.name}: {rule.get('record') or rule.get('alert')}")
    import dashboards
    from components.dashboards import DEFAULT_INPUTS
    from test_dashboards import _all_queries, _reads

    for module in dashboards.DASHBOARDS:
        for title, expr in _all_queries(module.build(DEFAULT_INPUTS)):
            for name in _reads(expr):
                readers.setdefault(name, set()).add(f"dashboard {module.NUMBER}: {title}")

    def raw(name: str, seen: frozenset[str]) -> set[str]:
        if name not in recorded:
            return {name}
        return set().union(*(raw(n, seen | {name}) for n in recorded[name] if n not in seen))

    out: dict[str, set[str]] = {}
    for name, who in readers.items():
        for base in raw(name, frozenset()):
            out.setdefault(base, set()).update(who if base == name else {f"{w} (via {name})" for w in who})
    return out
