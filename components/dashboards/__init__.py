"""Dashboards: the seven DataOps Grafana dashboards (dashboards/), one ConfigMap each.

Grafana's dashboard sidecar (PrometheusStack) loads every ConfigMap labelled
``grafana_dashboard: "1"`` in any namespace and files it in the folder named by the
``grafana_folder`` annotation. The JSON is deterministic, so a re-run previews no diff.

Alert thresholds come from the rule files (``dashboards.thresholds``); what a stack's settings
change reaches the dashboards through ``DashboardsArgs``: the stack's SLOs, whose data-freshness
SLO carries ``sloFreshnessMaxAge`` (the limit the freshness panels draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

import dashboards
from components.prometheus_stack import DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL
from components.slo import burn
from components.slo import rules as slo_rules
from components.slo import settings as slo_settings
from components.slo.settings import SloSpec
from core.k8s import labels
from core.wiring import Wiring
from core.parsers import parse_duration
from dashboards.thresholds import BurnRate, Inputs

COMPONENT = "grafana-dashboards"
# A ConfigMap holds at most 1 MiB (data plus metadata); stay well below it.
CONFIGMAP_LIMIT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DashboardsArgs:
    folder: str = "DataOps"
    # settings.slos: the data-freshness SLO (if the stack has one) sets the freshness limit.
    slos: Sequence[SloSpec] = ()
    # The optional parts this stack deploys (dashboards.thresholds.OPTIONAL_PARTS): the rows
    # of layers it does not deploy are left out rather than shown empty. None: all of them.
    parts: Optional[frozenset[str]] = None


def default_freshness_max_age_s() -> float:
    """``sloFreshnessMaxAge``'s default, from its declaration."""
    declared = next(s for s in slo_settings.SETTINGS if s.key == "sloFreshnessMaxAge")
    return parse_duration(declared.default)


def freshness_max_age_s(slos: Sequence[SloSpec]) -> float:
    """The stack's sloFreshnessMaxAge in seconds, as its data-freshness SLO counts it.

    Without a data-freshness SLO (no ``sloFreshnessTables``) the setting changes no rule and
    the panels use its declared default. A hand-written ``data-freshness`` SLO whose limit
    cannot be read keeps the default too, with a warning naming the mismatch.
    """
    slo = next((s for s in slos if s.name == slo_settings.FRESHNESS_SLO), None)
    if slo is None:
        return default_freshness_max_age_s()
    if slo.max_age_s is None:
        default = default_freshness_max_age_s()
        pulumi.log.warn(
            f"SLO {slo_settings.FRESHNESS_SLO}: no single '< bool <seconds>' age limit in its SLI; "
            f"the freshness panels of dashboard 04 draw the default {default:g} s instead."
        )
        return default
    return slo.max_age_s


def burn_rates(slos: Sequence[SloSpec] = ()) -> tuple[BurnRate, ...]:
    """The SLOErrorBudgetBurn pairs of the stack's SLOs (components/slo/burn.py), page first.

    The pairs depend on the SLO window. With one window for all SLOs (the default 30d) the
    panels cover every SLO; with several, each window's pairs name the SLOs they belong to.
    Without SLOs (tests, docs), the default SLOs' windows.
    """
    by_window: dict[str, list[str]] = {}
    for slo in slos:
        by_window.setdefault(slo.window, []).append(slo.name)
    if not by_window:
        by_window = {item["window"]: [] for item in slo_settings.DEFAULT_SLOS}
    shared = len(by_window) == 1
    rates = []
    for window in sorted(by_window, key=parse_duration):
        only = () if shared else tuple(by_window[window])
        rates += [BurnRate(p.severity, p.factor, p.long_window, p.short_window, only) for p in burn.policies(window).all]
    return tuple(rates)


def dashboard_inputs(slos: Sequence[SloSpec] = (), parts: Optional[frozenset[str]] = None) -> Inputs:
    """The plain values the dashboards draw: the stack's freshness limit, the SLO alerts'
    numbers (components/slo/burn.py, rules.py) and the optional parts it deploys (None: all)."""
    return Inputs(
        freshness_max_age_s=freshness_max_age_s(slos),
        error_budget_min=slo_rules.BUDGET_EXHAUSTED_BELOW,
        burn_rates=burn_rates(slos),
        summary_windows=slo_rules.SUMMARY_WINDOWS,
        parts=parts,
    )


#: Every part shown, the default SLOs: the dashboards as the docs and most tests see them.
DEFAULT_INPUTS = dashboard_inputs()


def config_map_name(file_name: str) -> str:
    """``00-dataops-main-navigation.json`` -> ``grafana-dashboard-00-dataops-main-navigation``."""
    return "grafana-dashboard-" + file_name.removesuffix(".json")


class Dashboards(pulumi.ComponentResource):
    config_maps: dict[str, k8s.core.v1.ConfigMap]

    def __init__(self, name: str, args: DashboardsArgs, wiring: Wiring):
        super().__init__("dataops:monitoring:Dashboards", name, None, wiring.opts)
        # The chart release: the ConfigMaps wait for Grafana's sidecar to exist.
        depends_on = [wiring.operator] if wiring.operator is not None else []
        self.config_maps = {}
        for file_name, text in dashboards.rendered(dashboard_inputs(args.slos, args.parts)):
            size = len(file_name.encode()) + len(text.encode())
            if size >= CONFIGMAP_LIMIT_BYTES:
                raise ValueError(f"dashboard {file_name} is {size} bytes: over the 1 MiB ConfigMap limit")
            cm_name = config_map_name(file_name)
            self.config_maps[file_name] = k8s.core.v1.ConfigMap(
                cm_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=cm_name,
                    namespace=wiring.namespace,
                    labels={**labels(COMPONENT), DASHBOARD_LABEL: "1"},
                    annotations={DASHBOARD_FOLDER_ANNOTATION: args.folder},
                ),
                data={file_name: text},
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
            )
        self.register_outputs({"configMaps": [cm.metadata.name for cm in self.config_maps.values()]})
