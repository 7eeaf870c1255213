"""GitOpsMonitoring: the guide's GitOps layer (Bitbucket -> Jenkins -> Argo CD).

Scrapes Argo CD's three metrics endpoints and the Jenkins Prometheus metrics plugin, and
loads ``rules/gitops.rules.yaml`` (recording rules and alerts).

Argo CD Services, as shipped (verified in argoproj/argo-cd manifests/base and the
argo-helm ``argo-cd`` chart; the job label is the Service name, see rules/platform.rules.yaml):

* application controller, port 8082: manifests Service ``argocd-metrics`` (label
  app.kubernetes.io/name=argocd-metrics, port ``metrics``); chart Service
  ``<release>-application-controller-metrics`` (same name label, port ``http-metrics``).
* API server, port 8083: ``argocd-server-metrics`` in both (name label
  argocd-server-metrics; port ``metrics`` / ``http-metrics``).
* repo server, port 8084: manifests Service ``argocd-repo-server`` (name label
  argocd-repo-server, component repo-server, ports ``server`` 8081 and ``metrics`` 8084);
  chart Service ``<release>-repo-server-metrics`` (name label argocd-repo-server-metrics,
  component repo-server, port ``http-metrics``).

Each Argo CD ServiceMonitor lists both port names; an endpoint whose port the Service does
not have yields no target, so either installation is scraped exactly once.

Jenkins (official jenkinsci/helm-charts ``jenkins`` chart): the controller Service carries
``app.kubernetes.io/component: jenkins-controller`` and serves the UI on port ``http``; the
Prometheus metrics plugin answers at ``/prometheus`` (plugin default path, chart
``controller.prometheus.scrapeEndpoint``), unauthenticated unless "use authenticated
endpoint" is switched on in the plugin. A selected Service without an ``http`` port (the
agent listener Service) produces no target.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.gitops.settings import GitOpsSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import keep_metrics, monitor
from core.rules import domain_rule

COMPONENT = "gitops-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-01-gitops"
DOMAIN = "gitops"  # rules/gitops.rules.yaml -> PrometheusRule dataops-gitops
ARGOCD_PORTS = ("metrics", "http-metrics")  # upstream manifests, argo-helm chart
JENKINS_PORT = "http"
JENKINS_PATH = "/prometheus"

# What the GitOps rules and the GitOps dashboard read. argocd_app_k8s_request_total,
# argocd_app_labels, argocd_kubectl_* and the Go/gRPC families are dropped: they grow with
# resources x verbs x apps and nothing here reads them.
ARGOCD_KEEP = (
    r"argocd_app_info|argocd_app_sync_total|argocd_app_reconcile_(bucket|sum|count)"
    r"|argocd_cluster_connection_status|argocd_git_request_total"
    # Bitbucket's git-failure SLI (rules/bitbucket.rules.yaml) reads the repo-server's failure counters.
    r"|argocd_git_(fetch|lsremote)_fail_total"
    r"|process_(cpu_seconds_total|resident_memory_bytes)"
)
# The plugin also re-exports the Metrics plugin (hundreds of jenkins_* / vm_* / http_* series);
# only the per-job build results and durations and the controller status are kept. The
# "default_" prefix is the plugin's default namespace (PROMETHEUS_NAMESPACE).
JENKINS_KEEP = (
    # last_build_start_time_milliseconds: the dashboards' deploy annotations (a completed build).
    r"default_jenkins_builds_(last_build_result_ordinal|last_build_duration_milliseconds|last_build_start_time_milliseconds"
    r"|duration_milliseconds_summary_(sum|count))"
    r"|default_jenkins_(up|executors_(available|busy|queue_length))"
)

# name -> selector of the Service(s) exposing that Argo CD component's metrics.
ARGOCD_TARGETS: dict[str, dict[str, Any]] = {
    "argocd-application-controller": {"matchLabels": {"app.kubernetes.io/name": "argocd-metrics"}},
    "argocd-server": {"matchLabels": {"app.kubernetes.io/name": "argocd-server-metrics"}},
    "argocd-repo-server": {
        "matchLabels": {"app.kubernetes.io/component": "repo-server"},
        "matchExpressions": [
            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["argocd-repo-server", "argocd-repo-server-metrics"]}
        ],
    },
}
JENKINS_SELECTOR = {"matchLabels": {"app.kubernetes.io/component": "jenkins-controller"}}


def _argocd_endpoints() -> list[dict[str, Any]]:
    return [
        {"port": port, "path": "/metrics", "interval": "30s", "metricRelabelings": keep_metrics(ARGOCD_KEEP)}
        for port in ARGOCD_PORTS
    ]


def _jenkins_endpoint() -> dict[str, Any]:
    return {
        "port": JENKINS_PORT,
        "path": JENKINS_PATH,
        # The plugin recomputes job metrics every 2 minutes by default
        # (COLLECTING_METRICS_PERIOD_IN_SECONDS); scraping faster only repeats them.
        "interval": "60s",
        "metricRelabelings": keep_metrics(JENKINS_KEEP),
    }


class GitOpsMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: GitOpsSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:GitOpsMonitoring", name, None, wiring.opts)
        self.argocd_monitors = [
            monitor(
                "ServiceMonitor",
                monitor_name,
                wiring.namespace,
                {
                    "namespaceSelector": {"matchNames": [settings.argocd_namespace]},
                    "selector": selector,
                    "endpoints": _argocd_endpoints(),
                },
                self,
                wiring.operator,
                COMPONENT,
            )
            for monitor_name, selector in ARGOCD_TARGETS.items()
        ]
        self.jenkins_monitor = monitor(
            "ServiceMonitor",
            "jenkins",
            wiring.namespace,
            {
                "namespaceSelector": {"matchNames": [settings.jenkins_namespace]},
                "selector": JENKINS_SELECTOR,
                "endpoints": [_jenkins_endpoint()],
            },
            self,
            wiring.operator,
            COMPONENT,
        )
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"argocdNamespace": settings.argocd_namespace, "jenkinsNamespace": settings.jenkins_namespace})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("gitops", jobs="(.+/)?(argocd|jenkins).*", component=GitOpsMonitoring, deployed=lambda settings: settings.enabled)
