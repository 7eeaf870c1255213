"""PlatformMonitoring: platform-wide and storage recording rules, and the MinIO (S3) scrape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.common import RULES_DIR, keep_metrics, labels, load_rule_file, monitor, prometheus_rule, prometheus_rule_from_file

COMPONENT = "platform-monitoring"
MINIO_TOKEN_SECRET = "minio-prometheus-token"
BY_LAYER_RECORD = "dataops:platform:availability:by_layer"

# Platform layers and the scrape jobs that belong to each (ServiceMonitor job = Service
# name, PodMonitor job = "<namespace>/<name>", hence the optional prefix).
PLATFORM_LAYERS: tuple[tuple[str, str], ...] = (
    ("spark", "(.+/)?spark.*"),
    ("airflow", "(.+/)?(airflow|statsd).*"),
    ("trino", "(.+/)?trino.*"),
    ("iceberg", "(.+/)?iceberg.*"),
    ("storage", "(.+/)?minio.*"),
    ("gitops", "(.+/)?(argocd|jenkins).*"),
)


def deployed_layers(iceberg_exporter: bool, gitops: bool) -> tuple[str, ...]:
    """The layers a stack deploys: the optional ones follow their enable settings."""
    optional = {"iceberg": iceberg_exporter, "gitops": gitops}
    return tuple(name for name, _ in PLATFORM_LAYERS if optional.get(name, True))


def availability_by_layer_expr(layers: Sequence[str]) -> str:
    """Share of targets up per deployed layer; a deployed layer without targets reads 0.

    Only layers this stack deploys are expected: a stack without the Iceberg exporter
    must not read as permanently degraded. rules/platform.rules.yaml holds the
    all-layers form (a test keeps it equal to this function's output).
    """
    jobs = dict(PLATFORM_LAYERS)
    unknown = set(layers) - set(jobs)
    if unknown or not layers:
        raise ValueError(f"unknown or no platform layers: {sorted(unknown)}")
    ordered = [name for name, _ in PLATFORM_LAYERS if name in layers]
    scraped = "\n  or\n".join(f'    label_replace(up{{job=~"{jobs[name]}"}}, "layer", "{name}", "", "")' for name in ordered)
    expected = "\n".join(f'or label_replace(vector(0), "layer", "{name}", "", "")' for name in ordered)
    return f"avg by (layer) (\n{scraped}\n)\n{expected}\n"


def platform_rule_groups(layers: Sequence[str]) -> list[dict[str, Any]]:
    """rules/platform.rules.yaml with the availability rule narrowed to the deployed layers."""
    groups = load_rule_file(RULES_DIR / "platform.rules.yaml")["groups"]
    found = 0
    for group in groups:
        for rule in group["rules"]:
            if rule.get("record") == BY_LAYER_RECORD:
                rule["expr"] = availability_by_layer_expr(layers)
                found += 1
    if found != 1:
        raise ValueError(f"{BY_LAYER_RECORD} must be recorded exactly once in platform.rules.yaml")
    return groups


@dataclass(frozen=True)
class PlatformMonitoringArgs:
    namespace: pulumi.Input[str]
    minio_namespace: str
    minio_token: Optional[pulumi.Output]  # secret bearer token; None when MinIO metrics are public
    operator: pulumi.Resource
    layers: tuple[str, ...] = tuple(name for name, _ in PLATFORM_LAYERS)  # the layers this stack deploys


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
            prometheus_rule("dataops-platform", platform_rule_groups(args.layers), args.namespace, self, args.operator, COMPONENT),
            prometheus_rule_from_file("storage.rules.yaml", args.namespace, self, args.operator, COMPONENT),
        ]
        self.register_outputs({"minioNamespace": args.minio_namespace})
