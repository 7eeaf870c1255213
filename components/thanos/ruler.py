"""Thanos Ruler, run by the operator from a ThanosRuler CR (CRD shipped with the chart).

It evaluates the rules whose range is longer than Prometheus keeps (the SLOs' 30d error
budgets, PrometheusRules labelled ``RULER_RULE_LABELS``) against Thanos Query, sends their
alerts to the Alertmanagers and uploads what it records to the bucket; Query reads it back
as one more StoreAPI. The operator names its governing headless Service
"thanos-ruler-operated" (ports web 10902, grpc 10901), labels it operated-thanos-ruler=true,
sets the external label thanos_ruler_replica per replica and drops it from alerts
(prometheus-operator pkg/thanos/statefulset.go).
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.thanos.common import OBJSTORE_KEY, OBJSTORE_SECRET, POD_SECURITY_CONTEXT, QUERY, QUERY_SERVICE_PORT, SERVICE_ACCOUNT, Build
from components.thanos.settings import ThanosSettings
from core.k8s import labels, monitor, with_runtime_default_seccomp
from core.rules import RULE_SELECTOR_LABELS, RULER_LABELS

RULER = "thanos-ruler"
RULER_NAME = "dataops"
RULER_SERVICE = "thanos-ruler-operated"
RULER_REPLICA_LABEL = "thanos_ruler_replica"
# PrometheusRules for the Ruler carry RULE_SELECTOR_LABELS and RULER_LABELS (core.rules);
# Prometheus' ruleSelector excludes RULER_LABELS, so a rule is evaluated by exactly one of them.
RULER_RULE_LABELS = {**RULE_SELECTOR_LABELS, **RULER_LABELS}
RULER_EVALUATION_INTERVAL = "1m"
# Local TSDB on the pod's emptyDir (the operator's default without spec.storage): recorded
# blocks go to the bucket every 2h, so a restart loses at most the last 2h of budget samples,
# which Query serves again from the next evaluation on. No volume: nothing to protect or migrate.
RULER_RETENTION = "2d"


def ruler_enabled(thanos: ThanosSettings) -> bool:
    """Whether this stack runs the Thanos Ruler: with Thanos, and only while Query sees this
    cluster alone. With ``thanosStoreEndpoints`` Query is global: the Ruler's 30d sums
    (``sum(increase(...))``) would add up every cluster's series, so the budgets stay in
    Prometheus (over its retention) instead."""
    return thanos.enabled and not thanos.store_endpoints


def ruler_spec(namespace: str, thanos: ThanosSettings, replicas: int, external_labels: Mapping[str, str]) -> dict[str, Any]:
    """ThanosRuler spec (monitoring.coreos.com/v1, field names from prometheus-operator's thanos_types.go).

    Queries go to Thanos Query (deduplicated, long-term); alerts to every Alertmanager replica
    by SRV on the chart's governing Service (port name http-web, the chart's portName).
    """
    return {
        "image": thanos.image,
        "replicas": replicas,
        "queryEndpoints": [f"{QUERY}.{namespace}.svc:{QUERY_SERVICE_PORT}"],
        "alertmanagersUrl": [f"dnssrv+http://_http-web._tcp.alertmanager-operated.{namespace}.svc.cluster.local"],
        # Only the rules meant for it, and only from this namespace (no ruleNamespaceSelector).
        "ruleSelector": {"matchLabels": dict(RULER_RULE_LABELS)},
        "evaluationInterval": RULER_EVALUATION_INTERVAL,
        "labels": dict(external_labels),
        "retention": RULER_RETENTION,
        "objectStorageConfig": {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY},
        "resources": thanos.ruler_resources.as_k8s(),
        # The operator's pods get what every Thanos pod gets (typed; serialized like a dict).
        "securityContext": with_runtime_default_seccomp(POD_SECURITY_CONTEXT),
        **({"serviceAccountName": SERVICE_ACCOUNT} if thanos.service_account_annotations else {}),
    }


def build_ruler(build: Build) -> k8s.apiextensions.CustomResource:
    """ThanosRuler CR and the ServiceMonitor of its operator-made Service."""
    thanos, wiring = build.thanos, build.wiring
    replicas = 2 if thanos.disruption_budgets else 1
    ruler = k8s.apiextensions.CustomResource(
        RULER,
        api_version="monitoring.coreos.com/v1",
        kind="ThanosRuler",
        metadata={"name": RULER_NAME, "namespace": wiring.namespace, "labels": labels(RULER)},
        spec=build.namespace.apply(lambda n: ruler_spec(n, thanos, replicas, dict(wiring.external_labels))),
        opts=pulumi.ResourceOptions(parent=build.parent, depends_on=[wiring.operator, build.objstore_secret]),
    )
    # Its /metrics: rule evaluations (prometheus_rule_*, the thanos-ruler group of
    # rules/thanos.rules.yaml) and alert delivery; job = the governing Service's name.
    monitor(
        "ServiceMonitor",
        f"{RULER}-servicemonitor",
        wiring.namespace,
        {
            "selector": {"matchLabels": {"operated-thanos-ruler": "true"}},
            "namespaceSelector": {"matchNames": [wiring.namespace]},
            "endpoints": [{"port": "web", "path": "/metrics", "interval": "30s"}],
        },
        build.parent,
        wiring.operator,
        RULER,
    )
    return ruler
