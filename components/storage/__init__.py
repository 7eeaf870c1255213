"""StorageMonitoring: the MinIO (S3) tenant's cluster metrics, and object-storage and volume rules."""

from __future__ import annotations


from typing import Any

import pulumi

from components.storage.settings import StorageSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, keep_metrics, monitor
from core.rules import domain_rule, domain_rule_groups

COMPONENT = "platform-monitoring"
MINIO_TOKEN_SECRET = "minio-prometheus-token"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-02-resource"
# These objects were children of PlatformMonitoring "platform" before storage became its own
# domain: the alias keeps their URNs, so `pulumi up` moves them instead of replacing them.
FORMER_PARENT_NAME, FORMER_PARENT_TYPE = "platform", "dataops:monitoring:PlatformMonitoring"


# The rules of rules/storage.rules.yaml that read MinIO's metrics (a test keeps this list
# complete): left out where object storage is a cloud S3 without MinIO metrics.
MINIO_RULES = frozenset({
    "dataops:s3:error_ratio", "dataops:s3:server_error_ratio", "dataops:s3:capacity_usage_ratio",
    "DataOpsTargetDown", "DataOpsMetricsAbsent", "S3ErrorRatioHigh", "MinIONodesOffline", "MinIODrivesOffline", "MinIOCapacityLow",
    "MinIOErasureSetQuorumLost",
})

# The MinIO series the scrape keeps (metricRelabelings keep): S3 request counters, capacity,
# nodes/drives offline and the per-erasure-set health (minio_cluster_health_*, which
# MinIOErasureSetQuorumLost reads). A test compares this with every minio_* name the rules read.
MINIO_KEEP = r"minio_(s3_requests_.+|cluster_(capacity|nodes|drive|health)_.+)"


def storage_rule_groups(minio: bool) -> list[dict[str, Any]]:
    """rules/storage.rules.yaml, without the MinIO rules unless ``minio``."""
    groups = domain_rule_groups("storage")
    if not minio:
        for group in groups:
            group["rules"] = [r for r in group["rules"] if (r.get("record") or r.get("alert")) not in MINIO_RULES]
    return groups


def _moved() -> list[pulumi.Alias]:
    return [pulumi.Alias(parent=pulumi.create_urn(FORMER_PARENT_NAME, FORMER_PARENT_TYPE))]


class StorageMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: StorageSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:StorageMonitoring", name, None, wiring.opts)
        # Cloud S3 (minioEnabled false): no MinIO target, no MinIO rule; the volume rules stay.
        self.minio_monitor = None
        if settings.minio_enabled:
            endpoint = {
                "port": "http",
                # Cluster-wide metrics v2: capacity, drives/nodes offline, erasure-set health,
                # S3 request/error counters.
                "path": "/minio/v2/metrics/cluster",
                "interval": "60s",
                "metricRelabelings": keep_metrics(MINIO_KEEP),
            }
            depends_on = []
            token = {"token": settings.minio_token} if settings.minio_token is not None else {}
            token_secret = credentials_secret(MINIO_TOKEN_SECRET, wiring.namespace, COMPONENT, token, self, aliases=_moved())
            if token_secret is not None:
                endpoint["authorization"] = {"type": "Bearer", "credentials": {"name": MINIO_TOKEN_SECRET, "key": "token"}}
                depends_on.append(token_secret)
            # Job label = Service name "minio": the storage layer of dataops:platform:availability.
            self.minio_monitor = monitor(
                "ServiceMonitor",
                "minio",
                wiring.namespace,
                {
                    "namespaceSelector": {"matchNames": [settings.minio_namespace]},
                    "selector": {"matchLabels": {"app": "minio"}},
                    "endpoints": [endpoint],
                },
                self,
                wiring.operator,
                COMPONENT,
                depends_on=depends_on,
                aliases=_moved(),
            )
        groups = None if settings.minio_enabled else storage_rule_groups(minio=False)
        self.rules = domain_rule("storage", wiring, self, COMPONENT, DASHBOARD, groups=groups, aliases=_moved())
        self.register_outputs({"minioNamespace": settings.minio_namespace})


# This domain's platform layer (core.layers): its MinIO targets count in platform availability (cloud S3 has none).
LAYER = Layer("storage", jobs="(.+/)?minio.*", component=StorageMonitoring, counted=lambda settings: settings.minio_enabled)
