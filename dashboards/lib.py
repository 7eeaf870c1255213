"""Shared building blocks for the DataOps dashboards (grafana-foundation-sdk, Grafana 11.6 schema).

One import for the dashboard modules: the basics (``dashboards.base``: identities, selectors,
variables, queries, colours), the panel builders (``dashboards.panels``), thresholds read
from the alert rules (``dashboards.thresholds``, imported as ``T``), the change annotations
(``dashboards.annotations``) and, here, the ``Board`` that assembles a dashboard and the
helpers that read a built dashboard back (queries of panels, variables and annotations).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import thresholds as T  # noqa: F401  (the dashboard modules use lib.T)
from dashboards.annotations import change_annotations
from dashboards.base import (  # noqa: F401  (re-exported for the dashboard modules)
    BLUE,
    C,
    CNS,
    DS,
    GREEN,
    INDEX,
    NS,
    ORANGE,
    RED,
    TAG,
    VOLUME_NAMESPACES,
    WORKLOAD_NAMESPACES,
    YELLOW,
    DashboardInfo,
    cluster_variable,
    datasource_variable,
    high_is_bad,
    low_is_bad,
    duration_text,
    pct,
    namespace_variable,
    query_variable,
    steps,
    target,
    value_text,
)
from dashboards.panels import (  # noqa: F401
    bargauge_panel,
    stat_panel,
    table_panel,
    text_panel,
    timeseries_panel,
)
from dashboards.thresholds import Inputs  # noqa: F401

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
            # Argo CD syncs and Jenkins deploy builds on every panel (dashboards/annotations.py).
            .annotations(change_annotations())
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

    def collapsed_row(self, title: str, *panels: Any) -> "Board":
        """A row closed on load, holding ``panels`` (e.g. a layer only some stacks deploy)."""
        row = db.Row(title).id(self._take_id()).collapsed(True)
        for panel in panels:
            row = row.with_panel(panel.id(self._take_id()))
        self.builder = self.builder.with_row(row)
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


def annotation_exprs(model: dict) -> list[tuple[str, str]]:
    """(annotation name, expr) for every Prometheus annotation query."""
    out = []
    for anno in model.get("annotations", {}).get("list", []) or []:
        expr = anno.get("expr") or (anno.get("target") or {}).get("expr")
        if expr:
            out.append((anno["name"], expr))
    return out


def variable_queries(model: dict) -> list[tuple[str, str]]:
    out = []
    for var in model.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            out.append((var["name"], q if isinstance(q, str) else q.get("query", "")))
    return out
