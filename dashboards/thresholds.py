"""Alert thresholds as the dashboards show them, read from where the alerts are defined.

A panel that shows an alert's threshold (a red step, a dashed line) must turn red exactly
where the alert fires. The number is therefore not repeated here: ``alert_threshold()``
reads it from the alert's expression in ``rules/<domain>.rules.yaml`` (the number after
``>``/``<``). SLO numbers (burn factors, the exhausted-budget level) and the stack's
``sloFreshnessMaxAge`` arrive as plain values in ``Inputs``, given by the Dashboards
component (components/dashboards): nothing here imports a component. Changing an alert's
number changes the dashboards with it; an alert whose expression no longer has a single
comparison makes the build fail instead of silently keeping an old number.

Warning levels (yellow) have no alert behind them and stay where the panel is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml


RULES_DIR = Path(__file__).resolve().parents[1] / "rules"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# A comparison with a literal: "> 0.9", "< 0.95", ">= 3" (not "==", "!=", "=~" or "bool").
_COMPARISON = re.compile(r"(?<![=!<>])(?P<op>[<>]=?)\s*(?P<value>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\b")
_METRIC_COMPARISON = r"(?<![a-zA-Z0-9_:]){metric}(?:\{{[^}}]*\}})?\s*(?P<op>[<>]=?)\s*(?P<value>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\b"


@lru_cache(maxsize=None)
def _alert_exprs(rules_dir: Path, domain: str, alert: str) -> tuple[str, ...]:
    path = rules_dir / f"{domain}.rules.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    exprs = tuple(
        str(rule["expr"])
        for group in doc.get("groups", []) or []
        for rule in group.get("rules", []) or []
        if rule.get("alert") == alert
    )
    if not exprs:
        raise LookupError(f"{path.name}: no alert {alert}")
    return exprs


def alert_threshold(domain: str, alert: str, metric: Optional[str] = None, rules_dir: Optional[Path] = None) -> float:
    """The literal alert ``alert`` of ``rules/<domain>.rules.yaml`` compares with ``>``/``<``.

    With ``metric``, only a comparison right after that metric (``<metric>{...} > x``) counts.
    Every matching comparison of every rule of that name must give the same number.
    """
    directory = rules_dir or RULES_DIR
    values = set()
    for expr in _alert_exprs(directory, domain, alert):
        text = _STRING.sub('""', expr)
        pattern = re.compile(_METRIC_COMPARISON.format(metric=re.escape(metric))) if metric else _COMPARISON
        values.update(float(m.group("value")) for m in pattern.finditer(text))
    if len(values) != 1:
        where = f"{domain}.rules.yaml {alert}" + (f" on {metric}" if metric else "")
        raise ValueError(f"{where}: expected one threshold after > or <, found {sorted(values) or 'none'}")
    value = values.pop()
    # Whole numbers as ints: the JSON reads "3", as the rule does, not "3.0".
    return int(value) if value.is_integer() else value


def alert_selector(domain: str, alert: str, metric: str, rules_dir: Optional[Path] = None) -> str:
    """The label matchers the alert puts on ``metric`` (``up{job=~"..."}`` -> ``job=~"..."``)."""
    for expr in _alert_exprs(rules_dir or RULES_DIR, domain, alert):
        m = re.search(re.escape(metric) + r"\{(?P<matchers>[^}]*)\}", expr)
        if m:
            return m.group("matchers").strip()
    raise LookupError(f"{domain}.rules.yaml {alert}: no {metric}{{...}} selector")


# --------------------------------------------------------------------- alerts the panels show
# One function per threshold so a panel names the alert it follows.


def platform_availability_min() -> float:
    return alert_threshold("platform", "DataOpsPlatformDown", "dataops:platform:availability")


def cpu_usage_max() -> float:
    return alert_threshold("platform", "CPUCapacityLow", "dataops:cluster:cpu_usage_ratio")


def memory_usage_max() -> float:
    return alert_threshold("platform", "MemoryCapacityLow", "dataops:cluster:memory_usage_ratio")


def oom_kills_max() -> float:
    return alert_threshold("platform", "OOMKillFrequent")


def storage_usage_max() -> float:
    return alert_threshold("storage", "StorageCapacityLow", "dataops:storage:volume_usage_ratio")


def small_files_max() -> float:
    return alert_threshold("iceberg", "IcebergSmallFilesHigh", "dataops:iceberg:table_small_files_ratio")


def spark_failure_max() -> float:
    return alert_threshold("spark", "SparkJobFailureSpike", "dataops:spark:failure_ratio_10m")


def trino_failure_max() -> float:
    return alert_threshold("trino", "TrinoQueryFailureRatioHigh", "dataops:trino:platform_failure_rate_5m")


def trino_workers_min() -> float:
    return alert_threshold("trino", "TrinoWorkersLost", "dataops:trino:worker_availability")


def jvm_heap_max() -> float:
    return alert_threshold("jvm", "JvmHeapPressure", "dataops:jvm:heap_used_ratio")


def ceph_pool_max() -> float:
    return alert_threshold("ceph", "CephPoolNearlyFull", "dataops:ceph:pool_used_ratio")


def oracle_tablespace_max() -> float:
    return alert_threshold("oracle", "OracleTablespaceNearlyFull", "dataops:oracle:tablespace_used_ratio")


def powerscale_capacity_max() -> float:
    return alert_threshold("powerscale", "PowerScaleCapacityLow", "dataops:powerscale:capacity_used_ratio")


def hive_api_p99_max() -> float:
    return alert_threshold("hive", "HiveMetastoreApiSlow", "dataops:hive:api_duration_seconds:p99_max")


def hive_directsql_errors_max() -> float:
    return alert_threshold("hive", "HiveMetastoreDirectSqlErrors", "dataops:hive:directsql_errors:rate5m")


def bitbucket_git_failure_max() -> float:
    return alert_threshold("bitbucket", "BitbucketGitRequestsFailing", "dataops:bitbucket:git_request_failure_ratio_15m")


def bitbucket_up_selector() -> str:
    return alert_selector("bitbucket", "BitbucketDown", "up")


# Airflow's pipeline-latency SLO counts DAG runs within this (the le="3600" bucket of the
# default SLO in components/slo/settings.py; a stack's own ``slos`` may differ).
PIPELINE_LATENCY_MAX_S = 3600


#: Parts of the dashboards shown only where a stack has them: the optional layers' rows and
#: the service health checks (probe*Url settings). Without them those panels could only say
#: "No data".
OPTIONAL_PARTS = ("bitbucket", "ceph", "oracle", "powerscale", "hive", "service_probes")


@dataclass(frozen=True)
class BurnRate:
    """One SLOErrorBudgetBurn window pair: it fires when the burn rate over both windows exceeds ``factor``."""

    severity: str
    factor: float
    long_window: str
    short_window: str


@dataclass(frozen=True)
class Inputs:
    """What a stack's settings and the SLO rules change on the dashboards, handed down as plain
    values by the Dashboards component; same inputs -> same JSON."""

    # The data-freshness SLO's limit (sloFreshnessMaxAge), in seconds.
    freshness_max_age_s: float
    # SLOErrorBudgetExhausted fires below this share of the budget.
    error_budget_min: float
    # SLOErrorBudgetBurn's window pairs, page first.
    burn_rates: tuple[BurnRate, ...]
    # The optional parts this stack deploys; None: every one (the tests' and docs' default).
    parts: Optional[frozenset[str]] = None

    def __post_init__(self) -> None:
        unknown = sorted((self.parts or frozenset()) - set(OPTIONAL_PARTS))
        if unknown:
            raise ValueError(f"unknown optional dashboard parts {unknown}; known: {', '.join(OPTIONAL_PARTS)}")

    def shows(self, part: str) -> bool:
        if part not in OPTIONAL_PARTS:
            raise ValueError(f"{part!r} is not an optional dashboard part ({', '.join(OPTIONAL_PARTS)})")
        return self.parts is None or part in self.parts
