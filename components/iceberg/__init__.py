"""IcebergExporter: deploys exporters/iceberg (table metrics) with its Service and ServiceMonitor."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.iceberg.settings import IcebergSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, deployment_with_service, dns_egress, egress_to_ports, exporter_network_policy, labels, monitor, restricted_security_context
from core.parsers import url_port
from core.rules import domain_rule

COMPONENT = "iceberg-exporter"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-04-data"
CREDENTIALS_SECRET = "iceberg-exporter-credentials"
# The Secret mounted as files (exporters/iceberg/credentials.py reads them at every catalog
# build): no key in the environment, and a rotated Secret reaches the exporter without a restart.
CREDENTIALS_DIR = "/etc/iceberg-exporter/credentials"
PORT = 9123
SHARD_LABEL = "dataops.io/shard"


def _env(settings: IcebergSettings, has_credentials: bool, shard: Optional[int] = None) -> list[k8s.core.v1.EnvVarArgs]:
    plain = {
        "ICEBERG_EXPORTER_CATALOG_TYPE": settings.catalog_type,
        "ICEBERG_EXPORTER_CATALOG_URI": settings.catalog_uri,
        "ICEBERG_EXPORTER_INTERVAL": settings.interval,
        "ICEBERG_EXPORTER_SMALL_FILE_BYTES": str(settings.small_file_bytes),
        "ICEBERG_EXPORTER_PORT": str(PORT),
    }
    if settings.warehouse:
        plain["ICEBERG_EXPORTER_WAREHOUSE"] = settings.warehouse
    if settings.s3_endpoint:
        plain["ICEBERG_EXPORTER_CATALOG_PROPERTY"] = f"s3.endpoint={settings.s3_endpoint}"
    if shard is not None:
        plain["ICEBERG_EXPORTER_SHARD"] = f"{shard}/{settings.shards}"
    if has_credentials:
        plain["ICEBERG_EXPORTER_CREDENTIALS_DIR"] = CREDENTIALS_DIR
    return [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(plain.items())]


def egress_ports(settings: IcebergSettings) -> list[int]:
    """TCP ports the exporter connects to: the catalog's, and S3's (443 when no endpoint is set: AWS)."""
    ports = {url_port(settings.catalog_uri), url_port(settings.s3_endpoint) if settings.s3_endpoint else 443}
    return sorted(p for p in ports if p is not None)


class IcebergExporter(pulumi.ComponentResource):
    def __init__(self, name: str, settings: IcebergSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:IcebergExporter", name, None, wiring.opts)
        selector = {"app.kubernetes.io/name": COMPONENT}
        has_credentials = settings.s3_access_key is not None and settings.s3_secret_key is not None
        depends_on = []
        keys = {"s3-access-key-id": settings.s3_access_key, "s3-secret-access-key": settings.s3_secret_key} if has_credentials else {}
        self.credentials = credentials_secret(CREDENTIALS_SECRET, wiring.namespace, COMPONENT, keys, self)
        if self.credentials is not None:
            depends_on.append(self.credentials)
        probe = k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="metrics")

        def container(shard: Optional[int]) -> k8s.core.v1.ContainerArgs:
            return k8s.core.v1.ContainerArgs(
                name="exporter",
                image=settings.image,
                env=_env(settings, has_credentials, shard),
                ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=PORT, protocol="TCP")],
                # /healthz fails when no collection cycle completed for a few intervals (a wedged
                # exporter); a catalog outage is iceberg_exporter_up 0, which a restart would not fix.
                liveness_probe=k8s.core.v1.ProbeArgs(http_get=probe, period_seconds=30, timeout_seconds=5, failure_threshold=3),
                readiness_probe=k8s.core.v1.ProbeArgs(http_get=probe, period_seconds=10, timeout_seconds=5),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "100m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "1Gi"}
                ),
                security_context=restricted_security_context(10001),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
                + ([k8s.core.v1.VolumeMountArgs(name="credentials", mount_path=CREDENTIALS_DIR, read_only=True)] if has_credentials else []),
            )

        ports = [k8s.core.v1.ServicePortArgs(name="metrics", port=PORT, target_port="metrics", protocol="TCP")]
        pod = dict(
            # One collector per table: a second replica of a shard would double its catalog load.
            replicas=1,
            volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs())]
            # Readable by the pod's fsGroup (the exporter's group) only; no subPath, so rotations land.
            + ([k8s.core.v1.VolumeArgs(name="credentials", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=CREDENTIALS_SECRET, default_mode=0o440))] if has_credentials else []),
            pod_security_context=k8s.core.v1.PodSecurityContextArgs(run_as_non_root=True, fs_group=10001),
            depends_on=depends_on,
        )
        if settings.shards == 1:
            self.deployment, self.service = deployment_with_service(COMPONENT, wiring.namespace, container(None), ports, self, **pod)
            self.deployments = [self.deployment]
        else:
            # One Deployment per shard (its own selector), all behind one Service: the
            # ServiceMonitor then has one scrape target per shard.
            self.deployments = [
                deployment_with_service(
                    f"{COMPONENT}-shard-{shard}",
                    wiring.namespace,
                    container(shard),
                    ports,
                    self,
                    pod_labels={**selector, SHARD_LABEL: str(shard)},
                    with_service=False,
                    **pod,
                )[0]
                for shard in range(settings.shards)
            ]
            self.service = k8s.core.v1.Service(
                COMPONENT,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=COMPONENT, namespace=wiring.namespace, labels={**labels(COMPONENT), **selector}),
                spec=k8s.core.v1.ServiceSpecArgs(selector=selector, ports=ports),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.network_policy = exporter_network_policy(
            COMPONENT, wiring.namespace, self, metrics_port=PORT, egress=[dns_egress(), *egress_to_ports(egress_ports(settings))]
        )
        # /metrics serves the last completed collection, so scraping faster than the
        # collection interval is cheap; 1m keeps staleness below the interval.
        self.service_monitor = monitor(
            "ServiceMonitor",
            COMPONENT,
            wiring.namespace,
            {
                "selector": {"matchLabels": selector},
                "namespaceSelector": {"matchNames": [wiring.namespace]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "1m", "scrapeTimeout": "30s"}],
            },
            self,
            wiring.operator,
            COMPONENT,
        )
        self.rules = domain_rule("iceberg", wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"service": self.service.metadata.name, "shards": settings.shards})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("iceberg", jobs="(.+/)?iceberg.*", component=IcebergExporter, deployed=lambda settings: settings.enabled, resource_name="iceberg-exporter")
