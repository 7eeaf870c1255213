"""Shared building blocks for the DataOps dashboards (grafana-foundation-sdk, Grafana 11.6 schema).

Every dashboard:
  * reads through the ``$datasource`` variable (type prometheus), so the same JSON works
    against Prometheus (uid ``prometheus``) or Thanos Query (uid ``thanos``, the default
    datasource when Thanos is enabled): Grafana preselects the default datasource;
  * filters on ``cluster=~"$cluster"``. ``cluster`` is a Prometheus external label, so it
    only exists on series read through Thanos; against a bare Prometheus the variable is
    empty, "All" is ``.*`` and ``cluster=~".*"`` matches series without the label;
  * prefers the recording rules in ``rules/*.rules.yaml`` (guide 4.2) and keeps
    high-cardinality labels (``executor_id``, ``pod`` outside top-k tables) out of group-bys.

Thresholds below mirror the alert rules / the guide's Phase 3 alerts, so a panel turns red
exactly when the alert would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from grafana_foundation_sdk.builders import bargauge, common as common_b, dashboard as db, prometheus as prom
from grafana_foundation_sdk.builders import stat, table, text, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.text import TextMode

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

# ---------------------------------------------------------------------------------------
# Thresholds shared with the alerts.
# ---------------------------------------------------------------------------------------
PLATFORM_AVAILABILITY_MIN = 0.95  # DataOpsPlatformDown: dataops:platform:availability < 0.95
CPU_USAGE_MAX = 0.85  # CPUCapacityLow: dataops:cluster:cpu_usage_ratio > 0.85
MEMORY_USAGE_MAX = 0.90  # MemoryCapacityLow: dataops:cluster:memory_usage_ratio > 0.90
STORAGE_USAGE_MAX = 0.85  # StorageCapacityLow: volume usage > 0.85
SMALL_FILES_MAX = 0.5  # IcebergSmallFilesHigh: dataops:iceberg:small_files_ratio > 0.5
SPARK_FAILURE_MAX = 0.2  # SparkJobFailureSpike: failure ratio over 10 min > 0.2
ERROR_BUDGET_MIN = 0.1  # SLOErrorBudgetExhausted: dataops:slo:error_budget_remaining < 0.1
# Multiwindow burn-rate factors of SLOErrorBudgetBurn (rules/slo.rules.yaml).
BURN_PAGE_FAST = 14.4  # 1h & 5m
BURN_PAGE_SLOW = 6.0  # 6h & 30m
BURN_TICKET_FAST = 3.0  # 1d & 2h
BURN_TICKET_SLOW = 1.0  # 3d & 6h
FRESHNESS_MAX_AGE_S = 6 * 3600  # settings: sloFreshnessMaxAge default (6h)
PIPELINE_LATENCY_MAX_S = 3600  # pipeline-latency SLO: DAG runs within 1h

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


def _ref_ids(targets: Sequence[prom.Dataquery]) -> list[prom.Dataquery]:
    return [t.ref_id(chr(ord("A") + i)) for i, t in enumerate(targets)]


def _override_units(panel, units: Optional[dict[str, str]]):
    for name, unit in sorted((units or {}).items()):
        panel = panel.override_by_name(name, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    return panel


def _reduce_last() -> common_b.ReduceDataOptions:
    return common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------


def _titled(panel, title: str, targets: Sequence[prom.Dataquery], unit: str, w: int, h: int):
    """What every panel here sets: title, the datasource variable, queries (refIds), unit, size."""
    return panel.title(title).datasource(DS).targets(_ref_ids(targets)).unit(unit).span(w).height(h)


def stat_panel(
    title: str,
    targets: Sequence[prom.Dataquery],
    unit: str,
    thresholds: Optional[db.ThresholdsConfig] = None,
    description: str = "",
    w: int = 6,
    h: int = 4,
    decimals: Optional[float] = None,
    mappings: Optional[list[dm.ValueMapping]] = None,
    no_value: Optional[str] = None,
) -> stat.Panel:
    p = (
        _titled(stat.Panel(), title, targets, unit, w, h)
        .reduce_options(_reduce_last())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .thresholds(thresholds or steps(BLUE))
    )
    if description:
        p = p.description(description)
    if decimals is not None:
        p = p.decimals(decimals)
    if mappings:
        p = p.mappings(mappings)
    if no_value is not None:
        p = p.no_value(no_value)
    return p


def timeseries_panel(
    title: str,
    targets: Sequence[prom.Dataquery],
    unit: str,
    thresholds: Optional[db.ThresholdsConfig] = None,
    description: str = "",
    w: int = 12,
    h: int = 8,
    min_val: Optional[float] = None,
    max_val: Optional[float] = None,
    stacked: bool = False,
) -> timeseries.Panel:
    p = (
        _titled(timeseries.Panel(), title, targets, unit, w, h)
        .line_width(1)
        .fill_opacity(10)
        .legend(common_b.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE).placement(cm.LegendPlacement.BOTTOM).show_legend(True).calcs(["lastNotNull", "max"]))
        .tooltip(common_b.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    if thresholds is not None:
        p = p.thresholds(thresholds).thresholds_style(common_b.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED))
    if description:
        p = p.description(description)
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    if stacked:
        p = p.stacking(common_b.StackingConfig().mode(cm.StackingMode.NORMAL))
    return p


def table_panel(
    title: str,
    targets: Sequence[prom.Dataquery],
    unit: str = "short",
    thresholds: Optional[db.ThresholdsConfig] = None,
    description: str = "",
    w: int = 12,
    h: int = 8,
    column_units: Optional[dict[str, str]] = None,
    hide: Iterable[str] = ("Time",),
    rename: Optional[dict[str, str]] = None,
    mappings: Optional[list[dm.ValueMapping]] = None,
    colored_cells: bool = True,
    plain_columns: Iterable[str] = (),
) -> table.Panel:
    """Instant queries as one table: several queries are merged on their common labels.

    Columns of query A, B, ... are named "Value #A", "Value #B", ...; ``rename`` maps them to
    readable headers and ``column_units`` sets units by the *renamed* header.
    """
    qs = [t.instant().format("table") for t in targets]
    p = _titled(table.Panel(), title, qs, unit, w, h).thresholds(thresholds or steps(BLUE))
    if colored_cells and thresholds is not None:
        p = p.cell_options(cm.TableColoredBackgroundCellOptions(mode=cm.TableCellBackgroundDisplayMode.BASIC))
    if len(qs) > 1:
        p = p.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        dm.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": {name: True for name in hide}, "renameByName": dict(rename or {}), "indexByName": {}},
        )
    )
    p = _override_units(p, column_units)
    for name in sorted(plain_columns):
        # Thresholds colour the other columns; this one keeps a plain cell.
        p = p.override_by_name(name, [dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "auto"})])
    if description:
        p = p.description(description)
    if mappings:
        p = p.mappings(mappings)
    return p


def bargauge_panel(
    title: str,
    targets: Sequence[prom.Dataquery],
    unit: str,
    thresholds: db.ThresholdsConfig,
    description: str = "",
    w: int = 12,
    h: int = 8,
    min_val: Optional[float] = 0,
    max_val: Optional[float] = None,
) -> bargauge.Panel:
    p = (
        _titled(bargauge.Panel(), title, [t.instant() for t in targets], unit, w, h)
        .thresholds(thresholds)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(_reduce_last())
    )
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    if description:
        p = p.description(description)
    return p


def text_panel(title: str, content: str, w: int = 24, h: int = 6) -> text.Panel:
    return text.Panel().title(title).content(content).mode(TextMode.MARKDOWN).span(w).height(h)


# ---------------------------------------------------------------------------------------
# Dashboard assembly
# ---------------------------------------------------------------------------------------


class Board:
    """A dashboard under construction: numbered panels, rows, the common variables and links."""

    def __init__(self, number: str, description: str, tags: Sequence[str], variables: Sequence[Any]):
        self.info = INDEX[number]
        self._next_id = 1
        self.builder = (
            db.Dashboard(self.info.title)
            .uid(self.info.uid)
            .description(description)
            .tags(sorted({TAG, *tags}))
            .editable()
            .timezone("browser")
            .time("now-6h", "now")
            .refresh("1m")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .variables([datasource_variable(), *variables])
            # Every DataOps dashboard links to the others (tag "dataops"), keeping time and variables.
            .link(
                db.DashboardLink("DataOps")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
        )
        if number != "00":
            home = INDEX["00"]
            self.builder = self.builder.link(
                db.DashboardLink(home.title)
                .type(dm.DashboardLinkType.LINK)
                .url(home.path)
                .icon("dashboard")
                .include_vars(True)
                .keep_time(True)
            )

    def row(self, title: str) -> "Board":
        self.builder = self.builder.with_row(db.Row(title).id(self._take_id()))
        return self

    def add(self, *panels: Any) -> "Board":
        for panel in panels:
            self.builder = self.builder.with_panel(panel.id(self._take_id()))
        return self

    def _take_id(self) -> int:
        n = self._next_id
        self._next_id += 1
        return n

    def build(self) -> dict:
        return to_dict(self.builder)


def to_dict(builder: Any) -> dict:
    """The SDK model as plain JSON data (through the SDK's own encoder)."""
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder, sort_keys=True))


def dump(model: dict) -> str:
    """Deterministic JSON text for ConfigMaps: a re-run must preview no diff."""
    return json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def panel_exprs(model: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, rows included."""
    out = []
    for panel in model.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for t in inner.get("targets", []) or []:
                if "expr" in t:
                    out.append((inner.get("title", ""), t["expr"]))
    return out


def variable_queries(model: dict) -> list[tuple[str, str]]:
    out = []
    for var in model.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            out.append((var["name"], q if isinstance(q, str) else q.get("query", "")))
    return out
