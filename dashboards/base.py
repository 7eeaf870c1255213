"""Dashboard basics: the seven dashboards' identities, selectors, variables, queries, colours.

Every dashboard:
  * reads through the ``$datasource`` variable (type prometheus), so the same JSON works
    against Prometheus (uid ``prometheus``) or Thanos Query (uid ``thanos``, the default
    datasource when Thanos is enabled): Grafana preselects the default datasource;
  * filters on ``cluster=~"$cluster"``. ``cluster`` is a Prometheus external label, so it
    only exists on series read through Thanos; against a bare Prometheus the variable is
    empty, "All" is ``.*`` and ``cluster=~".*"`` matches series without the label;
  * prefers the recording rules in ``rules/*.rules.yaml`` (guide 4.2) and keeps
    high-cardinality labels (``executor_id``, ``pod`` outside top-k tables) out of group-bys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from grafana_foundation_sdk.builders import dashboard as db, prometheus as prom
from grafana_foundation_sdk.models import dashboard as dm

# ---------------------------------------------------------------------------------------
# The seven dashboards (guide Phase 2.1): number, uid, Korean + English title.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardInfo:
    number: str
    slug: str
    uid: str
    title_ko: str
    title_en: str

    @property
    def title(self) -> str:
        return f"{self.number} DataOps {self.title_ko} ({self.title_en})"

    @property
    def file_name(self) -> str:
        # The guide's file names (00-dataops-main-navigation ...), as JSON.
        return f"{self.number}-dataops-{self.slug}.json"

    @property
    def path(self) -> str:
        return f"/d/{self.uid}"


INDEX: dict[str, DashboardInfo] = {
    d.number: d
    for d in (
        DashboardInfo("00", "main-navigation", "dataops-00-main", "메인 네비게이션", "Main Navigation"),
        DashboardInfo("01", "gitops-pipeline", "dataops-01-gitops", "GitOps 배포 파이프라인", "GitOps Pipeline"),
        DashboardInfo("02", "resource-capacity", "dataops-02-resource", "리소스 가용량", "Resource Capacity"),
        DashboardInfo("03", "workload-execution", "dataops-03-workload", "워크로드 실행", "Workload Execution"),
        DashboardInfo("04", "data-pipeline", "dataops-04-data", "데이터 파이프라인", "Data Pipeline"),
        DashboardInfo("05", "optimization", "dataops-05-optimization", "최적화 & 트러블슈팅", "Optimization & Troubleshooting"),
        DashboardInfo("06", "e2e-analytics", "dataops-06-e2e", "E2E 분석", "End-to-End Analytics"),
    )
}

TAG = "dataops"


# Namespaces of the workloads, as the recording rules select them (rules/platform.rules.yaml).
WORKLOAD_NAMESPACES = "spark.*|data-processing|airflow.*|trino.*"
VOLUME_NAMESPACES = "spark.*|data-processing|airflow.*|trino.*|minio.*"

# Selectors
C = 'cluster=~"$cluster"'
NS = 'namespace=~"$namespace"'
CNS = f"{C}, {NS}"

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"

# ---------------------------------------------------------------------------------------
# Variables
# ---------------------------------------------------------------------------------------


def datasource_variable() -> db.DatasourceVariable:
    return db.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(
    name: str,
    label: str,
    query: str,
    multi: bool = True,
    include_all: bool = True,
    regex: Optional[str] = None,
) -> db.QueryVariable:
    var = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        var = var.all_value(".*")
    if regex:
        var = var.regex(regex)
    return var


def cluster_variable() -> db.QueryVariable:
    # Thanos adds the external label "cluster"; a bare Prometheus has none ("All" = .*).
    return query_variable("cluster", "Cluster", "label_values(up, cluster)", multi=False)


def namespace_variable(selector_metric: str, label: str = "Namespace") -> db.QueryVariable:
    return query_variable("namespace", label, f"label_values({selector_metric}, namespace)")


# ---------------------------------------------------------------------------------------
# Targets, thresholds, mappings
# ---------------------------------------------------------------------------------------


def target(expr: str, legend: str = "", instant: bool = False, table_format: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).datasource(DS)
    if legend:
        q = q.legend_format(legend)
    q = q.instant() if instant else q.range()
    if table_format:
        q = q.format("table")
    return q


def steps(base: str, *levels: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``base`` color below the first level, then each (value, color)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=base)] + [dm.Threshold(value=v, color=c) for v, c in levels])
    )


def high_is_bad(warn: Optional[float], crit: float) -> db.ThresholdsConfig:
    levels = ([(warn, YELLOW)] if warn is not None else []) + [(crit, RED)]
    return steps(GREEN, *levels)


def low_is_bad(crit: float, ok: Optional[float] = None) -> db.ThresholdsConfig:
    """Red below ``crit``, yellow between ``crit`` and ``ok``, green from ``ok`` (or ``crit``)."""
    if ok is None:
        return steps(RED, (crit, GREEN))
    return steps(RED, (crit, YELLOW), (ok, GREEN))


def value_text(mapping: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    return [dm.ValueMap(options={k: dm.ValueMappingResult(text=t, color=c, index=i) for i, (k, (t, c)) in enumerate(mapping.items())})]




def pct(ratio: float) -> str:
    """``0.85`` -> ``"85 %"``: descriptions quote the threshold the panel is coloured with."""
    return f"{round(ratio * 100, 6):g} %"


def duration_text(seconds: float) -> str:
    """``21600`` -> ``"6 h"``, ``5400`` -> ``"90 min"``, ``45`` -> ``"45 s"``."""
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
