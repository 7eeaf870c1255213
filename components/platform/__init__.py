"""PlatformMonitoring: cluster-wide capacity and platform availability per deployed layer."""

from __future__ import annotations

import re
from typing import Any, Sequence

import pulumi

from core.layers import layers
from core.rules import domain_rule, domain_rule_groups
from core.wiring import Wiring

COMPONENT = "platform-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-00-main"
BY_LAYER_RECORD = "dataops:platform:availability:by_layer"
# The workload-namespace selector rules/platform.rules.yaml uses (see its header).
WORKLOAD_NAMESPACES = "spark.*|data-processing|airflow.*|trino.*"


def layer_jobs() -> dict[str, str]:
    """Every declared layer (core.layers) -> the scrape jobs that belong to it, in registry order."""
    return {layer.name: layer.jobs for layer in layers()}


NO_TARGETS_ALERT = "DataOpsLayerNoTargets"


def _deployed_jobs(deployed: Sequence[str]) -> dict[str, str]:
    jobs = layer_jobs()
    unknown = set(deployed) - set(jobs)
    if unknown or not deployed:
        raise ValueError(f"unknown or no platform layers: {sorted(unknown)}")
    return {name: jobs[name] for name in jobs if name in deployed}


def availability_by_layer_expr(deployed: Sequence[str]) -> str:
    """Share of targets up per deployed layer; a layer without any target has no series.

    Only layers this stack deploys are scraped for. A deployed layer whose targets are all
    missing is left out of the average (it raises its own DataOpsLayerNoTargets instead):
    read as 0 it drove the platform to a critical page for a discovery problem.
    rules/platform.rules.yaml holds the all-layers form (a test keeps it equal to this
    function's output).
    """
    jobs = _deployed_jobs(deployed)
    scraped = "\n  or\n".join(f'    label_replace(up{{job=~"{jobs[name]}"}}, "layer", "{name}", "", "")' for name in jobs)
    return f"avg by (layer) (\n{scraped}\n)\n"


def layers_without_targets_expr(deployed: Sequence[str]) -> str:
    """The deployed layers that have no scrape target at all: one series per such layer."""
    expected = "\n  or ".join(f'label_replace(vector(1), "layer", "{name}", "", "")' for name in _deployed_jobs(deployed))
    return f"(\n    {expected}\n)\nunless on (layer) {BY_LAYER_RECORD}\n"


def workload_namespaces(namespaces: Sequence[str]) -> str:
    """WORKLOAD_NAMESPACES plus the configured namespaces it does not match (trinoNamespaces
    outside trino.*): the rules select every namespace a workload is monitored in."""
    extra = [n for n in namespaces if not re.fullmatch(WORKLOAD_NAMESPACES, n)]
    return "|".join([WORKLOAD_NAMESPACES, *dict.fromkeys(extra)])


def platform_rule_groups(layers: Sequence[str], namespaces: Sequence[str] = ()) -> list[dict[str, Any]]:
    """rules/platform.rules.yaml with the availability rule and the no-targets alert narrowed
    to the deployed layers and the workload-namespace selector widened to ``namespaces``."""
    groups = domain_rule_groups("platform")
    found = {BY_LAYER_RECORD: 0, NO_TARGETS_ALERT: 0}
    selector = workload_namespaces(namespaces)
    for group in groups:
        for rule in group["rules"]:
            if selector != WORKLOAD_NAMESPACES:
                rule["expr"] = rule["expr"].replace(f'namespace=~"{WORKLOAD_NAMESPACES}"', f'namespace=~"{selector}"')
            if rule.get("record") == BY_LAYER_RECORD:
                rule["expr"] = availability_by_layer_expr(layers)
                found[BY_LAYER_RECORD] += 1
            elif rule.get("alert") == NO_TARGETS_ALERT:
                rule["expr"] = layers_without_targets_expr(layers)
                found[NO_TARGETS_ALERT] += 1
    if set(found.values()) != {1}:
        raise ValueError(f"{BY_LAYER_RECORD} and {NO_TARGETS_ALERT} must each appear exactly once in platform.rules.yaml: {found}")
    return groups


class PlatformMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, layers: Sequence[str], wiring: Wiring, namespaces: Sequence[str] = ()):
        """``layers``: the layers this stack deploys, the only ones platform availability expects;
        ``namespaces``: workload namespaces from the settings (trinoNamespaces) the rules select too."""
        super().__init__("dataops:monitoring:PlatformMonitoring", name, None, wiring.opts)
        self.rules = domain_rule("platform", wiring, self, COMPONENT, DASHBOARD, groups=platform_rule_groups(layers, namespaces))
        self.register_outputs({"layers": list(layers)})
