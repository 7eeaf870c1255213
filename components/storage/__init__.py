"""StorageMonitoring: the MinIO (S3) tenant's cluster metrics, and object-storage and volume rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from core.k8s import keep_metrics, labels, monitor
from core.rules import Links, RuleTarget, domain_rule

COMPONENT = "platform-monitoring"
MINIO_TOKEN_SECRET = "minio-prometheus-token"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-02-resource"
# These objects were children of PlatformMonitoring "platform" before storage became its own
# domain: the alias keeps their URNs, so `pulumi up` moves them instead of replacing them.
FORMER_PARENT_NAME, FORMER_PARENT_TYPE = "platform", "dataops:monitoring:PlatformMonitoring"


def _moved() -> list[pulumi.Alias]:
    return [pulumi.Alias(parent=pulumi.create_urn(FORMER_PARENT_NAME, FORMER_PARENT_TYPE))]


@dataclass(frozen=True)
class StorageMonitoringArgs:
    namespace: pulumi.Input[str]
    minio_namespace: str
    minio_token: Optional[pulumi.Output]  # secret bearer token; None when MinIO metrics are public
    operator: pulumi.Resource
    links: Links  # where alerts' runbook and dashboard links point


class StorageMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("dataops:monitoring:StorageMonitoring", name, None, opts)
        moved = pulumi.ResourceOptions(parent=self, aliases=_moved())
        endpoint = {
            "port": "http",
            # Cluster-wide metrics v2: capacity, drives/nodes offline, S3 request/error counters.
            "path": "/minio/v2/metrics/cluster",
            "interval": "60s",
            "metricRelabelings": keep_metrics(r"minio_(s3_requests_.+|cluster_(capacity|nodes|drive)_.+)"),
        }
        depends_on = []
        if args.minio_token is not None:
            token_secret = k8s.core.v1.Secret(
                MINIO_TOKEN_SECRET,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=MINIO_TOKEN_SECRET, namespace=args.namespace, labels=labels(COMPONENT)),
                type="Opaque",
                string_data={"token": args.minio_token},
                opts=moved,
            )
            endpoint["authorization"] = {"type": "Bearer", "credentials": {"name": MINIO_TOKEN_SECRET, "key": "token"}}
            depends_on.append(token_secret)
        # Job label = Service name "minio": the storage layer of dataops:platform:availability.
        self.minio_monitor = monitor(
            "ServiceMonitor",
            "minio",
            args.namespace,
            {
                "namespaceSelector": {"matchNames": [args.minio_namespace]},
                "selector": {"matchLabels": {"app": "minio"}},
                "endpoints": [endpoint],
            },
            self,
            args.operator,
            COMPONENT,
            depends_on=depends_on,
            aliases=_moved(),
        )
        self.rules = domain_rule(
            "storage", RuleTarget(args.namespace, args.operator, args.links), self, COMPONENT, DASHBOARD, aliases=_moved()
        )
        self.register_outputs({"minioNamespace": args.minio_namespace})
