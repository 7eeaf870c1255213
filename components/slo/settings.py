"""SLOs as data (Sloth-style): name, objective, window and the SLI's PromQL per burn window.

``slos`` in the stack config replaces the defaults; without it a stack gets platform
availability, pipeline latency and, with ``sloFreshnessTables``, data freshness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from core.settings import DNS_LABEL_RE, PROJECT, Reader, duration, parse_duration, parse_ratio, parse_string_list, setting

SETTINGS = (
    setting("sloFreshnessTables", "array", "Iceberg tables (database.table) with a data-freshness SLO.", parse_string_list, (), example='["sales.orders"]'),
    setting("sloFreshnessMaxAge", "string", "A table is fresh while its last snapshot is younger than this.", duration, "6h"),
    setting("slos", "object", "SLO list (name, objective, window, and errorRatio or good/total PromQL with ${window}). Defaults to availability 99.9%, pipeline latency and data freshness.", lambda v: v, None, optional=True, example='[{"name":"availability","objective":0.999,...}]'),
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
        "description": "Platform scrape targets (Spark operator, Airflow, Trino, Iceberg, MinIO) are up.",
        "errorRatio": "1 - avg_over_time(dataops:platform:availability[${window}])",
    },
    {
        "name": "pipeline-latency",
        "objective": 0.95,
        "window": "30d",
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
        "name": "data-freshness",
        "objective": 0.99,
        "window": "30d",
        "description": "Listed Iceberg tables received a snapshot within the freshness limit.",
        "errorRatio": f"1 - avg(avg_over_time(({fresh} or {missing})[${{window}}:${{step}}]))",
    }


def _parse_slos(reader: Reader, raw: Any, freshness: tuple[str, ...], max_age_s: float) -> tuple[SloSpec, ...]:
    if raw is None:
        items = list(DEFAULT_SLOS)
        if freshness:
            items.append(_freshness_slo(freshness, max_age_s))
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
        unknown = set(item) - {"name", "objective", "window", "description", "errorRatio", "good", "total"}
        for extra in sorted(unknown):
            reader.problem(f"{where}.{extra} is not a known SLO field. Fix: pulumi config rm --path '{PROJECT}:slos[{index}].{extra}'")
        name = item.get("name", "")
        if not isinstance(name, str) or not DNS_LABEL_RE.match(name):
            reader.problem(f"{where}.name = {name!r}: must be a lower-case slug like platform-availability. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' platform-availability")
        elif name in seen:
            reader.problem(f"{where}.name = {name!r}: duplicate SLO name. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' <unique-name>")
        seen.add(name)
        try:
            objective = parse_ratio(item.get("objective"))
        except ValueError as err:
            reader.problem(f"{where}.objective = {item.get('objective')!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].objective' 0.999")
            objective = 0.999
        window = item.get("window", "30d")
        try:
            parse_duration(window)
        except ValueError as err:
            reader.problem(f"{where}.window = {window!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].window' 30d")
        has_ratio = "errorRatio" in item
        has_pair = "good" in item and "total" in item
        if has_ratio == has_pair:
            reader.problem(f"{where}: give either errorRatio, or both good and total. Fix: pulumi config set --path '{PROJECT}:slos[{index}].errorRatio' '<PromQL with ${{window}}>'")
        for field_name in ("errorRatio", "good", "total"):
            expr = item.get(field_name)
            if expr is not None and (not isinstance(expr, str) or "${window}" not in expr):
                reader.problem(f"{where}.{field_name} = {expr!r}: must be PromQL containing ${{window}} (each burn-rate window is substituted). Fix: pulumi config set --path '{PROJECT}:slos[{index}].{field_name}' '<PromQL with [${{window}}]>'")
        slos.append(
            SloSpec(
                name=str(name),
                objective=objective,
                window=str(window),
                description=str(item.get("description", "")),
                error_ratio=item.get("errorRatio"),
                good=item.get("good"),
                total=item.get("total"),
            )
        )
    return tuple(slos)




def read(reader: Reader, retention: str) -> tuple[SloSpec, ...]:
    """The stack's SLOs; warns when a window is longer than what Prometheus keeps."""
    g = reader.get
    freshness_tables = []
    for index, table in enumerate(g("sloFreshnessTables")):
        if re.match(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$", table):
            freshness_tables.append(table)
        else:
            reader.problem(f"{PROJECT}:sloFreshnessTables[{index}] = {table!r}: must be database.table. Fix: pulumi config set --path '{PROJECT}:sloFreshnessTables[{index}]' sales.orders")
    g("sloFreshnessMaxAge")  # validated here; its seconds go into the freshness SLO
    max_age_s = reader.seconds("sloFreshnessMaxAge") or 6 * 3600
    slos = _parse_slos(reader, g("slos"), tuple(freshness_tables), max_age_s)
    try:
        retention_s = parse_duration(retention)
    except ValueError:
        retention_s = None  # reported by the Prometheus settings
    for slo in slos:
        try:
            window_s = parse_duration(slo.window)
        except ValueError:
            continue  # reported by _parse_slos
        if retention_s is not None and window_s > retention_s:
            # Not an error: rules see only Prometheus' local data, so say what the numbers mean.
            pulumi.log.warn(
                f"SLO {slo.name}: window {slo.window} is longer than {PROJECT}:prometheusRetention "
                f"{retention}; its error budget is computed over the last {retention} only."
            )
    return slos
