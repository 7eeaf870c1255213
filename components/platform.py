"""PlatformMonitoring: platform-wide and storage recording rules, and the MinIO (S3) scrape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.common import keep_metrics, labels, monitor, prometheus_rule_from_file

COMPONENT = "platform-monitoring"
MINIO_TOKEN_SECRET = "minio-prometheus-token"


@dataclass(frozen=True)
class PlatformMonitoringArgs:
    namespace: pulumi.Input[str]
    minio_namespace: str
    minio_token: Optional[pulumi.Output]  # secret bearer token; None when MinIO metrics are public
    operator: pulumi.Resource


class PlatformMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("dataops:monitoring:PlatformMonitoring", name, None, opts)
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
                opts=pulumi.ResourceOptions(parent=self),
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
        )
        self.rules = [
            prometheus_rule_from_file(file_name, args.namespace, self, args.operator, COMPONENT)
            for file_name in ("platform.rules.yaml", "storage.rules.yaml")
        ]
        self.register_outputs({"minioNamespace": args.minio_namespace})
