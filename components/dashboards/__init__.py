"""Dashboards: the seven DataOps Grafana dashboards (dashboards/), one ConfigMap each.

Grafana's dashboard sidecar (PrometheusStack) loads every ConfigMap labelled
``grafana_dashboard: "1"`` in any namespace and files it in the folder named by the
``grafana_folder`` annotation. The JSON is deterministic, so a re-run previews no diff.

Alert thresholds come from the rule files (``dashboards.thresholds``); what a stack's settings
change reaches the dashboards through ``DashboardsArgs``: the stack's SLOs, whose data-freshness
SLO carries ``sloFreshnessMaxAge`` (the limit the freshness panels draw).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

import dashboards
from components.prometheus_stack import DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL
from components.slo.settings import SloSpec
from core.k8s import labels
from core.wiring import Wiring
from dashboards.thresholds import Inputs, default_freshness_max_age_s

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


FRESHNESS_SLO = "data-freshness"
# components/slo/settings.py writes sloFreshnessMaxAge into the SLI as "... < bool <seconds>".
_FRESH_BELOW = re.compile(r"<\s*bool\s+([0-9]+(?:\.[0-9]+)?)")


def freshness_max_age_s(slos: Sequence[SloSpec]) -> float:
    """The stack's sloFreshnessMaxAge in seconds, as its data-freshness SLO counts it.

    Without a data-freshness SLO (no ``sloFreshnessTables``) the setting changes no rule and
    the panels use its declared default. A hand-written ``data-freshness`` SLO whose limit
    cannot be read keeps the default too, with a warning naming the mismatch.
    """
    slo = next((s for s in slos if s.name == FRESHNESS_SLO), None)
    if slo is None:
        return default_freshness_max_age_s()
    limits = {float(v) for v in _FRESH_BELOW.findall(slo.error_ratio_expr("1h"))}
    if len(limits) != 1:
        default = default_freshness_max_age_s()
        pulumi.log.warn(
            f"SLO {FRESHNESS_SLO}: no single '< bool <seconds>' age limit in its SLI (found {sorted(limits) or 'none'}); "
            f"the freshness panels of dashboard 04 draw the default {default:g} s instead."
        )
        return default
    limit = limits.pop()
    # Whole seconds as an int: the same limit gives the same JSON whichever way it was set.
    return int(limit) if limit.is_integer() else limit


def dashboard_inputs(args: DashboardsArgs) -> Inputs:
    return Inputs(freshness_max_age_s=freshness_max_age_s(args.slos), parts=args.parts)


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
        for file_name, text in dashboards.rendered(dashboard_inputs(args)):
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
