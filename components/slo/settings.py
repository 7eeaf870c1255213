"""SLOs as data (Sloth-style): name, objective, window and the SLI's PromQL per burn window.

``slos`` in the stack config replaces the defaults; without it a stack gets platform
availability, pipeline latency and, with ``sloFreshnessTables``, data freshness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from components.slo.burn import MAX_LONG_WINDOW, impossible, smallest_objective
from core.promql import promql_problem
from core.parsers import DNS_LABEL_RE, duration_between, parse_duration, parse_ratio, parse_string_list, pattern

from core.settings import PROJECT, Reader, setting

FRESHNESS_TABLE_RE = r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$"
FRESHNESS_TABLE = pattern(FRESHNESS_TABLE_RE, "must be database.table (the Iceberg namespace and table name)")
# Burn-rate alerts look back up to 3d (components/slo/burn.py MAX_LONG_WINDOW); a shorter SLO
# window would spend its whole budget inside one ticket window.
MIN_WINDOW, MAX_WINDOW = MAX_LONG_WINDOW, "90d"
MIN_WINDOW_S, MAX_WINDOW_S = 3 * 86400, 90 * 86400

SETTINGS = (
    setting("sloFreshnessTables", "array", "Iceberg tables (database.table) with a data-freshness SLO.", parse_string_list, (), example='["sales.orders"]'),
    setting("sloFreshnessMaxAge", "string", "A table is fresh while its last snapshot is younger than this.", duration_between("5m", "30d"), "6h"),
    setting("slos", "object", "SLO list (name, objective, window, errorRatio or good/total PromQL with ${window}, optionally budgetErrorRatio for the whole window, and page: false for an SLI that lags, whose fast burn then goes out as high instead of paging). Defaults to availability 99.9%, pipeline latency and data freshness.", lambda v: v, None, optional=True, example='[{"name":"availability","objective":0.999,...}]'),
)


@dataclass(frozen=True)
class SloSpec:
    """One SLO. Expressions contain ``${window}``, replaced by each burn-rate window."""

    name: str
    objective: float
    window: str
    description: str
    error_ratio: Optional[str] = None
    good: Optional[str] = None
    total: Optional[str] = None
    # The fast burn pages (severity critical) only when the SLI sees a failure within minutes.
    # A lagging SLI (a DAG run is late only once it ends; a table is stale only after the
    # freshness limit) cannot meet the 5-minute MTTD: its fast burn goes out as severity high.
    page: bool = True
    # A data-freshness SLO's age limit in seconds (sloFreshnessMaxAge), as a typed value for
    # what draws it (the freshness panels); None for every other SLO.
    max_age_s: Optional[float] = None
    # The budget over the whole window where it must be computed differently from the burn
    # windows (budgetErrorRatio); None: error_ratio_expr(window).
    budget_error_ratio: Optional[str] = None

    def budget_error_ratio_expr(self) -> str:
        """PromQL for the ratio of bad events over the SLO's whole window (its error budget)."""
        if self.budget_error_ratio is None:
            return self.error_ratio_expr(self.window)
        return self.budget_error_ratio.replace("${window}", self.window).replace("${step}", subquery_step(self.window))

    def error_ratio_expr(self, window: str) -> str:
        """PromQL for the ratio of bad events over ``window``; ``${step}`` becomes ``subquery_step(window)``."""
        expr = self.error_ratio if self.error_ratio is not None else f"1 - (({self.good}) / ({self.total}))"
        return expr.replace("${window}", window).replace("${step}", subquery_step(window))


def subquery_step(window: str, points: int = 720) -> str:
    """A subquery step giving at most ``points`` steps over ``window`` (at least 1m, whole minutes).

    Every step of a subquery materializes each literal and function result: a 30d window at
    1m is 43200 samples per term (promtool's unit tests stop at 10000 per query).
    """
    minutes = max(1, -(-int(parse_duration(window)) // (60 * points)))
    return f"{minutes}m"


DEFAULT_SLOS: tuple[dict, ...] = (
    {
        "name": "platform-availability",
        "objective": 0.999,
        "window": "30d",
        # Per layer: the services' own health probes where the stack has them (probe*Url),
        # else the layer's exporters being up (components/slo/rules.py, SLI_RECORD).
        "description": "Platform services answer their health checks (service probes where configured, else their exporters are up).",
        "errorRatio": "1 - avg_over_time(dataops:sli:platform_availability[${window}])",
        # The 30d budget as a mean of hourly means: the Thanos Ruler reads it through Query from
        # raw, 5m and 1h blocks at once, and a plain avg_over_time weighs each stretch by its
        # sample count, so the recent raw days drown the older downsampled ones (a window whose
        # true mean is 0.995 read 0.99865: tests/test_real_thanos.py). Hourly means weigh every
        # hour alike. The burn windows (at most 3d, raw data in Prometheus) keep the plain mean,
        # which sees a failure as soon as its first sample lands.
        "budgetErrorRatio": "1 - avg_over_time(avg_over_time(dataops:sli:platform_availability[${step}])[${window}:${step}])",
    },
    {
        "name": "pipeline-latency",
        "objective": 0.95,
        "window": "30d",
        "page": False,  # lagging SLI: a late run counts only when it finishes (make gameday: 43 min at 100 %)
        "description": "DAG runs finish within one hour (P95 DAG run duration under 1h).",
        # Successful runs only, on both sides (a run that fails fast is not "on time"; failures
        # belong to a success-rate SLO). 3600 must be a bucket of the statsd mapping. Prometheus 3
        # stores a scraped le="3600" as le="3600.0" (promtool's input series keep "3600"): match both.
        "good": 'sum(increase(airflow_dagrun_duration_bucket{status="success",le=~"3600([.]0)?"}[${window}]))',
        "total": 'sum(increase(airflow_dagrun_duration_count{status="success"}[${window}]))',
    },
)


def _freshness_slo(tables: tuple[str, ...], max_age_s: float) -> dict:
    """Share of (table, minute) pairs whose last snapshot is older than ``max_age_s``.

    Each table is selected exactly (a regex per label would also match the cross product,
    e.g. marketing.orders). A listed table with no series while the exporter reports others
    (table dropped, never committed, failing) counts as stale instead of leaving the average.
    """
    pairs = [t.split(".", 1) for t in tables]
    # Age = sample time - commit time: timestamp() instead of time(), which a subquery would
    # materialize at every step even where no table exists.
    fresh = " or ".join(
        f'(max by (database, table) (timestamp({sel}) - {sel}) < bool {int(max_age_s)})'
        for sel in (f'iceberg_table_last_update_timestamp{{database="{db}",table="{table}"}}' for db, table in pairs)
    )
    # 0 for each listed table, but only at instants where the exporter reports some table:
    # before the exporter existed is "no data", not "stale" (and no vector(0) is built for
    # every step of a 30d subquery).
    missing = " or ".join(
        f'label_replace(label_replace(0 * group(iceberg_table_last_update_timestamp), "database", "{db}", "", ""), "table", "{table}", "", "")'
        for db, table in pairs
    )
    return {
        "name": FRESHNESS_SLO,
        "objective": 0.99,
        "window": "30d",
        "page": False,  # lagging SLI: a table turns stale only after sloFreshnessMaxAge
        "description": "Listed Iceberg tables received a snapshot within the freshness limit.",
        "errorRatio": f"1 - avg(avg_over_time(({fresh} or {missing})[${{window}}:${{step}}]))",
    }


def _parse_slos(reader: Reader, raw: Any, freshness: tuple[str, ...], max_age_s: float) -> tuple[SloSpec, ...]:
    generated_limit = None  # the freshness SLO built from sloFreshnessMaxAge: its limit is that setting
    if raw is None:
        items = list(DEFAULT_SLOS)
        if freshness:
            items.append(_freshness_slo(freshness, max_age_s))
            generated_limit = int(max_age_s)  # whole seconds, as its SLI compares
    else:
        items = raw
    key = f"{PROJECT}:slos"
    if not isinstance(items, list):
        reader.problem(f"{key} must be a list of SLO objects. Fix: edit Pulumi.<stack>.yaml (see README, SLOs)")
        return ()
    slos: list[SloSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            reader.problem(f"{where} = {item!r}: must be an object. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' <name>")
            continue
        unknown = set(item) - {"name", "objective", "window", "description", "errorRatio", "budgetErrorRatio", "good", "total", "page"}
        for extra in sorted(unknown):
            reader.problem(f"{where}.{extra} is not a known SLO field. Fix: pulumi config rm --path '{PROJECT}:slos[{index}].{extra}'")
        name = item.get("name", "")
        if not isinstance(name, str) or not DNS_LABEL_RE.match(name):
            reader.problem(f"{where}.name = {name!r}: must be a lower-case slug like platform-availability. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' platform-availability")
        elif name in seen:
            reader.problem(f"{where}.name = {name!r}: duplicate SLO name. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' <unique-name>")
        if isinstance(name, str):
            seen.add(name)
        try:
            objective = parse_ratio(item.get("objective"))
        except ValueError as err:
            reader.problem(f"{where}.objective = {item.get('objective')!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].objective' 0.999")
            objective = 0.999
        window = item.get("window", "30d")
        try:
            window_s = parse_duration(window)
            if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
                raise ValueError(f"must be between {MIN_WINDOW} (the longest burn-rate window) and {MAX_WINDOW}")
        except ValueError as err:
            reader.problem(f"{where}.window = {window!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].window' 30d")
            window = "30d"
        else:
            _tier_problem(reader, where, index, objective, str(window))
        has_ratio = "errorRatio" in item
        has_pair = "good" in item and "total" in item
        if has_ratio == has_pair:
            reader.problem(f"{where}: give either errorRatio, or both good and total. Fix: pulumi config set --path '{PROJECT}:slos[{index}].errorRatio' '<PromQL with ${{window}}>'")
        for field_name in ("errorRatio", "budgetErrorRatio", "good", "total"):
            expr = item.get(field_name)
            if expr is not None and (not isinstance(expr, str) or "${window}" not in expr):
                reader.problem(f"{where}.{field_name} = {expr!r}: must be PromQL containing ${{window}} (each burn-rate window is substituted). Fix: pulumi config set --path '{PROJECT}:slos[{index}].{field_name}' '<PromQL with [${{window}}]>'")
            elif expr is not None and (reason := promql_problem(expr)):
                reader.problem(f"{where}.{field_name} = {expr!r}: not valid PromQL ({reason}). Fix: pulumi config set --path '{PROJECT}:slos[{index}].{field_name}' '<PromQL with [${{window}}]>'")
        slos.append(
            SloSpec(
                max_age_s=(generated_limit or _age_limit_s(item)) if name == FRESHNESS_SLO else None,
                name=str(name),
                objective=objective,
                window=str(window),
                description=str(item.get("description", "")),
                error_ratio=item.get("errorRatio"),
                budget_error_ratio=item.get("budgetErrorRatio"),
                good=item.get("good"),
                total=item.get("total"),
                page=_page(reader, where, index, item.get("page", True)),
            )
        )
    return tuple(slos)


def _tier_problem(reader: Reader, where: str, index: int, objective: float, window: str) -> None:
    """A burn-rate pair whose threshold is an error ratio of 1 or more can never fire: say so once."""
    policy = impossible(objective, window)
    if policy is None:
        return
    least = smallest_objective(window)
    reader.problem(
        f"{where}.objective = {objective!r}: over window {window} the {policy.long_window}/{policy.short_window} "
        f"burn alert ({policy.factor:g}x, {policy.budget_share}) would need an error ratio above "
        f"{policy.threshold(objective):g}, which never happens (an objective below 1 - 1/{policy.factor:g} "
        f"makes a burn-rate tier impossible); {least:g} is the smallest objective at which every tier can fire. "
        f"Fix: pulumi config set --path '{PROJECT}:slos[{index}].objective' {least:g}"
    )


FRESHNESS_SLO = "data-freshness"
# _freshness_slo writes the limit as "... < bool <seconds>"; a hand-written data-freshness SLO
# in the same form gives its limit the same way.
_FRESH_BELOW = re.compile(r"<\s*bool\s+([0-9]+(?:\.[0-9]+)?)")


def _age_limit_s(item: dict) -> Optional[float]:
    """The single age limit of a data-freshness SLO's SLI, or None when it has none or several."""
    limits = {float(v) for field_name in ("errorRatio", "good", "total") for v in _FRESH_BELOW.findall(str(item.get(field_name) or ""))}
    if len(limits) != 1:
        return None
    limit = limits.pop()
    # Whole seconds as an int: the same limit gives the same JSON whichever way it was set.
    return int(limit) if limit.is_integer() else limit


def _page(reader: Reader, where: str, index: int, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    reader.problem(f"{where}.page = {value!r}: must be true or false. Fix: pulumi config set --path '{PROJECT}:slos[{index}].page' true")
    return True




def read(reader: Reader, retention: str) -> tuple[SloSpec, ...]:
    """The stack's SLOs; warns when a window is longer than what Prometheus keeps and no Thanos Ruler evaluates it."""
    g = reader.get
    tables = reader.items("sloFreshnessTables", FRESHNESS_TABLE, "sales.orders")
    freshness_tables = [t for t in dict.fromkeys(tables) if re.match(FRESHNESS_TABLE_RE, t)]
    g("sloFreshnessMaxAge")  # validated here; its seconds go into the freshness SLO
    max_age_s = reader.seconds("sloFreshnessMaxAge") or 6 * 3600
    if freshness_tables and reader.peek("icebergExporterEnabled") is False:
        reader.problem(
            f"{PROJECT}:sloFreshnessTables = {list(tables)!r} needs the Iceberg exporter (the SLO reads its metrics), "
            f"but {PROJECT}:icebergExporterEnabled is false. Fix: pulumi config set {PROJECT}:icebergExporterEnabled true (or pulumi config rm {PROJECT}:sloFreshnessTables)"
        )
    # A table can only be seen fresh if the exporter looks more often than the freshness limit.
    if freshness_tables:
        reader.duration_at_least("sloFreshnessMaxAge", "icebergInterval", "the exporter would report fresh tables as stale between collections", "6h")
    slos = _parse_slos(reader, g("slos"), tuple(freshness_tables), max_age_s)
    try:
        retention_s = parse_duration(retention)
    except ValueError:
        retention_s = None  # reported by the Prometheus settings
    # With Thanos, budgets over longer windows are evaluated by the Thanos Ruler against
    # Thanos Query (components/slo/rules.py: split_long_windows); without it, say what the numbers mean.
    # (components/thanos: ruler_enabled - Thanos on, and Query not global through thanosStoreEndpoints)
    thanos = reader.peek("thanosEnabled") is True and not reader.peek("thanosStoreEndpoints")
    for slo in slos:
        try:
            window_s = parse_duration(slo.window)
        except ValueError:
            continue  # reported by _parse_slos
        if retention_s is not None and window_s > retention_s and not thanos and not reader.problems:
            # Not an error: rules see only Prometheus' local data, so say what the numbers mean
            # (not on top of a failing configuration: the problems come first).
            pulumi.log.warn(
                f"SLO {slo.name}: window {slo.window} is longer than {PROJECT}:prometheusRetention "
                f"{retention}; its error budget is computed over the last {retention} only."
            )
    return slos
