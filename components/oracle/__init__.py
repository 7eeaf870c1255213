"""OracleMonitoring: Oracle's own exporter (oracle/oracle-db-appdev-monitoring) for one database.

We run the exporter: a Deployment + Service ``oracledb-exporter`` (port ``metrics`` 9161)
and a ServiceMonitor, so the job label is ``oracledb-exporter`` (rules/oracle.rules.yaml
selects ``(.+/)?oracle.*``). The DSN (a Pulumi secret) is split into a Kubernetes Secret:
the user and connect string reach the exporter as environment variables expanded in its
config file, the password as a file (``passwordFile``) so no character of it can break
the YAML. The config ConfigMap holds no credential. The pod is hardened like our other
exporters: non-root (the image's uid 1000), read-only root filesystem, no capabilities,
seccomp RuntimeDefault, no service account token (the exporter never calls the API), and a
NetworkPolicy: ingress from Prometheus only, egress to DNS and the database listener only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.oracle.settings import split_dsn
from components.oracle.settings import OracleSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, deployment_with_service, dns_egress, dump_yaml, egress_to_ports, exporter_network_policy, keep_metrics, labels, monitor, restricted_security_context
from core.rules import domain_rule

COMPONENT = "oracledb-exporter"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-02-resource"
DOMAIN = "oracle"  # rules/oracle.rules.yaml -> PrometheusRule dataops-oracle
NAME = "oracledb-exporter"  # Deployment, Service (job label) and ServiceMonitor
PORT = 9161
USER_ID = 1000  # USER in the image's Dockerfile
CONFIG_MAP = "oracledb-exporter-config"
CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/etc/oracledb-exporter"
CREDENTIALS_SECRET = "oracledb-exporter-credentials"
PASSWORD_DIR = "/etc/oracledb-exporter-password"
# Every series the default metrics produce is small and read by rules or the dashboard.
ORACLE_KEEP = r"oracledb_.+"


def exporter_config(database_name: str) -> dict[str, Any]:
    """The exporter's config file (2.x requires one); ${VAR} are expanded by the exporter."""
    return {
        "databases": {
            database_name: {
                "username": "${DB_USERNAME}",
                "passwordFile": f"{PASSWORD_DIR}/password",
                "url": "${DB_CONNECT_STRING}",
                "queryTimeout": 5,
                "maxOpenConns": 2,
                "maxIdleConns": 2,
            }
        },
        # Queries run when Prometheus scrapes (no scrapeInterval): one query set per scrape.
        "metrics": {"default": "/default-metrics.toml"},
        # The alert-log export writes files under /log: not wanted here.
        "log": {"disable": 1},
    }


def _part(dsn: pulumi.Output, index: int) -> pulumi.Output:
    # Settings validated the form; a preview with an unknown value yields "".
    return dsn.apply(lambda value: (split_dsn(value) or ("", "", ""))[index])


class OracleMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: OracleSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:OracleMonitoring", name, None, wiring.opts)
        child = pulumi.ResourceOptions(parent=self)
        self.credentials = credentials_secret(
            CREDENTIALS_SECRET,
            wiring.namespace,
            COMPONENT,
            {"username": _part(settings.dsn, 0), "password": _part(settings.dsn, 1), "url": _part(settings.dsn, 2)},
            self,
        )
        config_text = dump_yaml(exporter_config(settings.database))
        config_map = k8s.core.v1.ConfigMap(
            CONFIG_MAP,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONFIG_MAP, namespace=wiring.namespace, labels=labels(COMPONENT)),
            data={CONFIG_KEY: config_text},
            opts=child,
        )

        def from_secret(key: str) -> k8s.core.v1.EnvVarSourceArgs:
            return k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=CREDENTIALS_SECRET, key=key))

        health = k8s.core.v1.HTTPGetActionArgs(path="/", port="metrics")
        container = k8s.core.v1.ContainerArgs(
            name="oracledb-exporter",
            image=settings.image,
            args=[f"--config.file={CONFIG_DIR}/{CONFIG_KEY}"],
            env=[
                k8s.core.v1.EnvVarArgs(name="DB_USERNAME", value_from=from_secret("username")),
                k8s.core.v1.EnvVarArgs(name="DB_CONNECT_STRING", value_from=from_secret("url")),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=PORT)],
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=20),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10),
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}),
            security_context=restricted_security_context(USER_ID),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="password", mount_path=PASSWORD_DIR, read_only=True),
                # Oracle's client libraries write traces under /tmp (upstream example mounts it too).
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        self.deployment, self.service = deployment_with_service(
            NAME,
            wiring.namespace,
            container,
            [k8s.core.v1.ServicePortArgs(name="metrics", port=PORT, target_port="metrics")],
            self,
            volumes=[
                k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CONFIG_MAP)),
                k8s.core.v1.VolumeArgs(
                    name="password",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=CREDENTIALS_SECRET, items=[k8s.core.v1.KeyToPathArgs(key="password", path="password")], default_mode=0o440
                    ),
                ),
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
            ],
            # Config changes roll the pod: the exporter reads its config at start.
            pod_annotations={"checksum/config": hashlib.sha256(config_text.encode()).hexdigest()[:16]},
            pod_security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=USER_ID,
                fs_group=USER_ID,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            automount_service_account_token=False,
            depends_on=[config_map, self.credentials],
        )
        # Ingress only from Prometheus on 9161; egress only to DNS and the database listener.
        self.network_policy = exporter_network_policy(
            NAME, wiring.namespace, self, metrics_port=PORT, egress=[dns_egress(), *egress_to_ports([settings.port])]
        )
        self.monitor = monitor(
            "ServiceMonitor",
            NAME,
            wiring.namespace,
            {
                "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                "endpoints": [
                    # Every scrape runs the default queries against the database. 30s as the
                    # stack default: OracleDatabaseDown's MTTD (tools.slo_report) assumes it.
                    {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "20s", "metricRelabelings": keep_metrics(ORACLE_KEEP)}
                ],
            },
            self,
            wiring.operator,
            COMPONENT,
            depends_on=[self.service],
        )
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"database": settings.database})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("oracle", jobs="(.+/)?oracle.*", component=OracleMonitoring, deployed=lambda settings: settings.enabled, dashboard_part="oracle")
