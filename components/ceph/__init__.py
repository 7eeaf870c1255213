"""CephMonitoring: a Rook Ceph cluster's mgr prometheus module and ceph-exporter.

ServiceMonitors as in Rook's deploy/examples/monitoring (service-monitor.yaml,
exporter-service-monitor.yaml), at 30s: the job label is the Service name,
``rook-ceph-mgr`` (port ``http-metrics`` 9283, only the active mgr answers; honorLabels
as Rook ships it) and ``rook-ceph-exporter`` (port ``ceph-exporter-http-metrics`` 9926,
daemon perf counters such as ceph_rgw_*). rules/ceph.rules.yaml selects
``(.+/)?rook-ceph-(mgr|exporter).*``. No authentication on either endpoint.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.ceph.settings import CephSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import keep_metrics, monitor
from core.rules import domain_rule

COMPONENT = "ceph-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-02-resource"
DOMAIN = "ceph"  # rules/ceph.rules.yaml -> PrometheusRule dataops-ceph

# What the Ceph rules and the resource dashboard read (docs/metrics/ceph.yaml): the mgr's
# cluster state and the exporter's RGW counters; the exporter's per-daemon OSD/MDS perf
# counters (thousands of series) are dropped.
MGR_KEEP = r"ceph_(health_status|health_detail|osd_(up|in|metadata)|pool_(stored|max_avail|metadata)|rgw_metadata)"
EXPORTER_KEEP = r"ceph_rgw_(req|failed_req|(op_get_obj|op_put_obj|get_initial|put_initial)_lat_(sum|count))"


def targets(cluster_namespace: str) -> dict[str, dict[str, Any]]:
    """ServiceMonitor name -> (selector, endpoint) for the two Rook Services."""
    return {
        "rook-ceph-mgr": {
            "selector": {"matchLabels": {"app": "rook-ceph-mgr", "rook_cluster": cluster_namespace}},
            "endpoint": {"port": "http-metrics", "path": "/metrics", "interval": "30s", "honorLabels": True, "metricRelabelings": keep_metrics(MGR_KEEP)},
        },
        "rook-ceph-exporter": {
            "selector": {"matchLabels": {"app": "rook-ceph-exporter", "rook_cluster": cluster_namespace}},
            "endpoint": {"port": "ceph-exporter-http-metrics", "path": "/metrics", "interval": "30s", "metricRelabelings": keep_metrics(EXPORTER_KEEP)},
        },
    }


class CephMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: CephSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:CephMonitoring", name, None, wiring.opts)
        self.monitors = [
            monitor(
                "ServiceMonitor",
                monitor_name,
                wiring.namespace,
                {
                    "namespaceSelector": {"matchNames": [settings.namespace]},
                    "selector": target["selector"],
                    "endpoints": [target["endpoint"]],
                },
                self,
                wiring.operator,
                COMPONENT,
            )
            for monitor_name, target in targets(settings.namespace).items()
        ]
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"cephNamespace": settings.namespace})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("ceph", jobs="(.+/)?rook-ceph-(mgr|exporter).*", component=CephMonitoring, deployed=lambda settings: settings.enabled, dashboard_part="ceph")
