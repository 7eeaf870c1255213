"""Panel builders: stat, time series, table, bar gauge and text, all on ``$datasource``."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from grafana_foundation_sdk.builders import bargauge, common as common_b, dashboard as db, prometheus as prom
from grafana_foundation_sdk.builders import stat, table, text, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.text import TextMode

from dashboards.base import BLUE, DS, steps

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
