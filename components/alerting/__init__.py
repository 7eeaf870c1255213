"""Alerting: Alertmanager config and credentials (Secrets), alert rules and SLO rules (PrometheusRules).

Created after PrometheusStack. What PrometheusStack needs from it is computed by the
module-level ``alertmanager_wiring()`` (names only), so the dependency stays one-way:
the Release mounts ``alertmanager-dataops`` (``configSecret``, ``useExistingSecret``) and
``alertmanager-dataops-credentials`` (``secrets`` -> /etc/alertmanager/secrets/...), and
this component creates both Secrets. Every PrometheusRule ``depends_on`` the release.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.alerting.alertmanager_config import (
    CONFIG_SECRET_KEY,
    CONFIG_SECRET_NAME,
    CREDENTIALS_SECRET_NAME,
    DEAD_MANS_SWITCH_KEY,
    PAGERDUTY_KEY,
    SLACK_KEY,
    alertmanager_config,
    render_alertmanager_yaml,
)
from components.prometheus_stack import AlertmanagerWiring
from components.alerting.settings import RoutingSettings
from components.slo.rules import DASHBOARD as SLO_DASHBOARD
from components.slo.rules import slo_rule_groups, split_long_windows
from components.slo.settings import SloSpec
from core.k8s import credentials_secret, labels
from core.rules import RULE_SELECTOR_LABELS, RULER_LABELS, prometheus_rule
from core.wiring import Wiring

SLO_RULE_NAME = "dataops-slo"
# The SLO rules whose window is longer than Prometheus keeps; the Thanos Ruler evaluates them.
SLO_LONG_RULE_NAME = "dataops-slo-long-windows"


def alertmanager_wiring() -> AlertmanagerWiring:
    """What PrometheusStack's Alertmanager mounts; the Secrets themselves are created by Alerting."""
    return AlertmanagerWiring(config_secret_name=CONFIG_SECRET_NAME, credential_secret_names=(CREDENTIALS_SECRET_NAME,))


@dataclass(frozen=True)
class AlertingArgs:
    routing: RoutingSettings
    slos: tuple[SloSpec, ...]
    # Who the notifications say they come from (the cluster and environment external labels).
    cluster_name: str
    environment: str
    evaluation_interval: str
    # Thanos is on: the budgets of SLOs whose window exceeds ``retention`` (prometheusRetention)
    # go to the Thanos Ruler (components/thanos) instead of Prometheus.
    thanos_ruler: bool = False
    retention: str = ""


class Alerting(pulumi.ComponentResource):
    config_secret: k8s.core.v1.Secret
    credentials_secret: k8s.core.v1.Secret
    rules: list[k8s.apiextensions.CustomResource]
    rule_names: list[str]

    def __init__(self, name: str, args: AlertingArgs, wiring: Wiring):
        super().__init__("dataops:monitoring:Alerting", name, None, wiring.opts)
        routing = args.routing

        credentials: dict[str, pulumi.Input[str]] = {}
        if routing.pagerduty_routing_key is not None:
            credentials[PAGERDUTY_KEY] = routing.pagerduty_routing_key
        if routing.slack_webhook_url is not None:
            credentials[SLACK_KEY] = routing.slack_webhook_url
        if routing.dead_mans_switch_url is not None:
            credentials[DEAD_MANS_SWITCH_KEY] = routing.dead_mans_switch_url
        # Always created (possibly empty, then without stringData): the Alertmanager pods mount it by name.
        self.credentials_secret = credentials_secret(CREDENTIALS_SECRET_NAME, wiring.namespace, "alertmanager", credentials, self, always=True)

        # No credential inside: receivers read them from the mounted credentials Secret.
        config = alertmanager_config(routing, args.cluster_name, args.environment)
        self.config_secret = credentials_secret(CONFIG_SECRET_NAME, wiring.namespace, "alertmanager", {CONFIG_SECRET_KEY: render_alertmanager_yaml(config)}, self)

        groups = slo_rule_groups(args.slos, args.evaluation_interval)
        long_groups: list = []
        if args.thanos_ruler and groups:
            groups, long_groups = split_long_windows(groups, args.slos, args.retention)
        self.rules = []
        self.rule_names = []
        if groups:
            groups = wiring.links.annotate(groups, SLO_DASHBOARD)
            self.rules.append(prometheus_rule(SLO_RULE_NAME, groups, wiring.namespace, self, wiring.operator, "slo"))
            self.rule_names.append(SLO_RULE_NAME)
        if long_groups:
            # RULER_LABELS: the ThanosRuler's ruleSelector picks it up, Prometheus' excludes it.
            self.rules.append(
                k8s.apiextensions.CustomResource(
                    SLO_LONG_RULE_NAME,
                    api_version="monitoring.coreos.com/v1",
                    kind="PrometheusRule",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=SLO_LONG_RULE_NAME, namespace=wiring.namespace, labels={**labels("slo"), **RULE_SELECTOR_LABELS, **RULER_LABELS}
                    ),
                    spec={"groups": wiring.links.annotate(long_groups, SLO_DASHBOARD)},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[wiring.operator]),
                )
            )
            self.rule_names.append(SLO_LONG_RULE_NAME)
        self.register_outputs(
            {
                "configSecret": self.config_secret.metadata.name,
                "credentialsSecret": self.credentials_secret.metadata.name,
                "prometheusRules": self.rule_names,
            }
        )
