"""Rule files -> PrometheusRule CRs, with every alert's links built in one place.

A domain keeps its recording rules and alerts in ``rules/<domain>.rules.yaml``: a plain
Prometheus rule file that promtool checks and tests as it is. Rule files carry no URL:
``Links`` adds ``runbook_url`` (``<runbookBaseUrl>/<alertname>.md``) and ``dashboard_url``
(``<grafanaUrl>/d/<dashboard>``) to every alert when the CR is built. An alert names
its dashboard (a uid, optionally with a query string) in a ``dashboard`` annotation
when it is not its domain's default one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from core.k8s import labels, read_yaml

if TYPE_CHECKING:
    from core.wiring import Wiring

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"

# Every PrometheusRule we create carries this label; Prometheus selects rules by it
# (see PrometheusStack's ruleSelector) so a stray rule elsewhere is never picked up by accident.
RULE_SELECTOR_LABELS = {"dataops.io/rules": "true"}
# Rules that also carry this are evaluated by the Thanos Ruler (components/thanos) instead:
# Prometheus' ruleSelector excludes them (NotIn), the ThanosRuler's selects them.
RULER_LABELS = {"dataops.io/evaluator": "thanos-ruler"}

# The annotation an alert uses to name a dashboard other than its domain's default.
DASHBOARD_ANNOTATION = "dashboard"


@dataclass(frozen=True)
class Links:
    """Where alerts link to: the runbooks and the stack's Grafana."""

    runbook_base_url: str
    grafana_url: str

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url}/{alert}.md"

    def dashboard(self, ref: str) -> str:
        """``ref`` is a dashboard uid, optionally followed by ``?<query>``."""
        return f"{self.grafana_url}/d/{ref}"

    def annotate(self, groups: Sequence[Mapping[str, Any]], default_dashboard: str) -> list[dict[str, Any]]:
        """Copies of ``groups`` whose alerts carry runbook_url and dashboard_url."""
        result = copy.deepcopy([dict(g) for g in groups])
        for group in result:
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                annotations = dict(rule.get("annotations") or {})
                ref = annotations.pop(DASHBOARD_ANNOTATION, default_dashboard)
                annotations["runbook_url"] = self.runbook(rule["alert"])
                annotations["dashboard_url"] = self.dashboard(ref)
                rule["annotations"] = annotations
        return result


def load_rule_file(path: Path) -> dict[str, Any]:
    """A Prometheus rule file (``groups:``) exactly as promtool checks it."""
    document = read_yaml(path)
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise ValueError(f"{path} is not a Prometheus rule file (no top-level 'groups' list)")
    return document


def domain_rule_groups(domain: str, rules_dir: Optional[Path] = None) -> list[dict[str, Any]]:
    """The groups of ``rules/<domain>.rules.yaml``."""
    return load_rule_file((rules_dir or RULES_DIR) / f"{domain}.rules.yaml")["groups"]


def prometheus_rule(
    name: str,
    groups: Sequence[Mapping[str, Any]],
    namespace: pulumi.Input[str],
    parent: pulumi.Resource,
    operator: pulumi.Resource,
    component: str,
    aliases: Sequence[pulumi.Alias] = (),
) -> k8s.apiextensions.CustomResource:
    """One PrometheusRule CR; it needs the operator's CRDs, so it depends on the chart release."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels={**labels(component), **RULE_SELECTOR_LABELS},
        ),
        spec={"groups": [dict(g) for g in groups]},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[operator], aliases=list(aliases) or None),
    )


def domain_rule(
    domain: str,
    wiring: Wiring,
    parent: pulumi.Resource,
    component: str,
    default_dashboard: str,
    groups: Optional[Sequence[Mapping[str, Any]]] = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> k8s.apiextensions.CustomResource:
    """PrometheusRule ``dataops-<domain>`` from ``rules/<domain>.rules.yaml`` (or ``groups``), links
    added; in the wiring's namespace, depending on its chart release."""
    groups = domain_rule_groups(domain) if groups is None else groups
    return prometheus_rule(
        f"dataops-{domain}",
        wiring.links.annotate(groups, default_dashboard),
        wiring.namespace,
        parent,
        wiring.operator,
        component,
        aliases,
    )
