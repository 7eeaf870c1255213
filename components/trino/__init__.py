"""TrinoMonitoring: coordinator and worker /metrics (native OpenMetrics) with Trino's user name."""

from __future__ import annotations

from typing import Any

import pulumi

from components.trino.settings import TrinoSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, keep_metrics, monitor
from core.rules import domain_rule

COMPONENT = "trino-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-03-workload"
AUTH_SECRET = "trino-metrics-auth"
# Trino exposes thousands of JMX-derived series; rules and dashboards read these families.
TRINO_KEEP = r"trino_execution_name_QueryManager_.+|trino_failuredetector_name_HeartbeatFailureDetector_.+|trino_memory_.+|jvm_.+|process_.+"


def _endpoint(secret_name: str) -> dict[str, Any]:
    return {
        "port": "http",
        # Trino serves OpenMetrics at /metrics (the guide's /v1/metrics is the JSON REST API).
        "path": "/metrics",
        "interval": "30s",
        # Trino needs a user on every request; with insecure authentication the user name
        # alone (basic auth, empty password) is accepted, with password auth both are checked.
        "basicAuth": {
            "username": {"name": secret_name, "key": "username"},
            "password": {"name": secret_name, "key": "password"},
        },
        "relabelings": [
            # The guide's cluster label: set `trino-cluster: <name>` on Trino pods (chart commonLabels).
            {"sourceLabels": ["__meta_kubernetes_pod_label_trino_cluster"], "targetLabel": "cluster_name", "action": "replace"},
            {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "targetLabel": "trino_role", "action": "replace"},
        ],
        "metricRelabelings": keep_metrics(TRINO_KEEP),
    }


class TrinoMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: TrinoSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:TrinoMonitoring", name, None, wiring.opts)
        password: pulumi.Input[str] = settings.password if settings.password is not None else ""
        self.auth_secret = credentials_secret(AUTH_SECRET, wiring.namespace, COMPONENT, {"username": settings.user, "password": password}, self)
        # trinodb/charts label pods and Services app.kubernetes.io/name=trino and
        # app.kubernetes.io/component=coordinator|worker; the job label is the Service name.
        self.monitors = [
            monitor(
                "ServiceMonitor",
                f"trino-{role}",
                wiring.namespace,
                {
                    "namespaceSelector": {"matchNames": list(settings.namespaces)},
                    "selector": {"matchLabels": {"app.kubernetes.io/name": "trino", "app.kubernetes.io/component": role}},
                    "endpoints": [_endpoint(AUTH_SECRET)],
                },
                self,
                wiring.operator,
                COMPONENT,
                depends_on=[self.auth_secret],
            )
            for role in ("coordinator", "worker")
        ]
        self.rules = domain_rule("trino", wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"trinoNamespaces": list(settings.namespaces)})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("trino", jobs="(.+/)?trino.*", component=TrinoMonitoring, deployed=lambda settings: settings.enabled)
