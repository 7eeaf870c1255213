"""PortalMonitoring: the stack's blackbox_exporter. It probes the Portal's URLs (user layer)
and each service's own health endpoint (service availability SLI: Airflow, Trino, MinIO,
Argo CD, Jenkins; one Probe CR per service, job ``service-health``, labels service/layer)."""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from core.k8s import deployment_with_service, dns_egress, dump_yaml, egress_to_ports, exporter_network_policy, labels, restricted_security_context
from components.portal.settings import PortalSettings
from core.parsers import url_port
from core.rules import domain_rule, domain_rule_groups
from core.wiring import Wiring

COMPONENT = "blackbox-exporter"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-00-main"
PORT = 9115
PROBE_JOB = "portal"
HTTP_MODULE = "http_2xx"
TCP_MODULE = "tcp_connect"  # TCP connect probes (the Hive Metastore Thrift port)
# Service health endpoints: 2xx AND a body that does not report itself unhealthy. Airflow's
# /health answers 200 with {"metadatabase": {"status": "unhealthy"}, ...} (its docs: do not use
# the status code); Trino's /v1/info answers 200 with "starting": true until it can run queries.
HEALTH_MODULE = "http_health"
HEALTH_BODY_FAILURES = ('"status"\\s*:\\s*"unhealthy"', '"starting"\\s*:\\s*true')
SERVICE_PROBE_JOB = "service-health"


def blackbox_config(tcp_connect: bool = False, service_health: bool = False) -> dict[str, Any]:
    """blackbox_exporter modules. The live test runs the real exporter with exactly this.

    ``tcp_connect`` adds the TCP module only for stacks that probe a TCP port, so a stack
    without one keeps its config (and pod checksum) unchanged.
    """
    config: dict[str, Any] = {
        "modules": {
            HTTP_MODULE: {
                "prober": "http",
                # Below the 30s probe interval and Prometheus' scrape timeout.
                "timeout": "10s",
                "http": {
                    "method": "GET",
                    "valid_status_codes": [],  # any 2xx
                    "follow_redirects": True,
                    "preferred_ip_protocol": "ip4",
                },
            }
        }
    }
    if tcp_connect:
        # Connect only: proves the port accepts connections, below the 30s probe interval.
        config["modules"][TCP_MODULE] = {"prober": "tcp", "timeout": "5s", "tcp": {"preferred_ip_protocol": "ip4"}}
    if service_health:
        config["modules"][HEALTH_MODULE] = {
            "prober": "http",
            "timeout": "10s",
            "http": {
                "method": "GET",
                "valid_status_codes": [],  # any 2xx
                "follow_redirects": True,
                "preferred_ip_protocol": "ip4",
                "fail_if_body_matches_regexp": list(HEALTH_BODY_FAILURES),
            },
        }
    return config


def portal_rule_groups(portal: bool, services: bool) -> list[dict[str, Any]]:
    """The groups of rules/portal.rules.yaml this stack probes for: the Portal's, the services'."""
    wanted = {"dataops_portal": portal, "dataops_services": services}
    groups = domain_rule_groups("portal")
    unknown = {g["name"] for g in groups} - set(wanted)
    if unknown:
        raise ValueError(f"rules/portal.rules.yaml: groups {sorted(unknown)} belong to neither the Portal nor the services")
    return [g for g in groups if wanted[g["name"]]]


class PortalMonitoring(pulumi.ComponentResource):
    prober_address: pulumi.Output[str]

    def __init__(self, name: str, settings: PortalSettings, wiring: Wiring, tcp_probe_ports: tuple[int, ...] = ()):
        """``tcp_probe_ports``: the ports of TCP probes other domains send through this exporter
        (the Hive Metastore's Thrift port): the tcp_connect module and NetworkPolicy egress to them."""
        super().__init__("dataops:monitoring:PortalMonitoring", name, None, wiring.opts)
        child = pulumi.ResourceOptions(parent=self)
        config_text = dump_yaml(blackbox_config(tcp_connect=bool(tcp_probe_ports), service_health=bool(settings.service_probes)))
        config_map = k8s.core.v1.ConfigMap(
            "blackbox-exporter-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="blackbox-exporter-config", namespace=wiring.namespace, labels=labels(COMPONENT)),
            data={"blackbox.yml": config_text},
            opts=child,
        )
        health = k8s.core.v1.HTTPGetActionArgs(path="/-/healthy", port="http")
        container = k8s.core.v1.ContainerArgs(
            name="blackbox-exporter",
            image=settings.blackbox_exporter_image,
            args=["--config.file=/etc/blackbox/blackbox.yml", f"--web.listen-address=:{PORT}"],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=20),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=health, period_seconds=10),
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "20m", "memory": "32Mi"}, limits={"cpu": "200m", "memory": "128Mi"}),
            security_context=restricted_security_context(65534),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/blackbox", read_only=True)],
        )
        self.deployment, self.service = deployment_with_service(
            COMPONENT,
            wiring.namespace,
            container,
            [k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http")],
            self,
            volumes=[k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="blackbox-exporter-config"))],
            # Config changes roll the pod: blackbox_exporter reads the file at start.
            pod_annotations={"checksum/config": hashlib.sha256(config_text.encode()).hexdigest()[:16]},
            depends_on=[config_map],
        )
        # Prometheus calls /probe on :9115; the exporter connects only to DNS and its targets' ports.
        probed_urls = [*settings.urls, *(u for _, _, u in settings.service_probes)]
        probe_ports = [port for port in (url_port(u) for u in probed_urls) if port is not None] + list(tcp_probe_ports)
        self.network_policy = exporter_network_policy(
            COMPONENT, wiring.namespace, self, metrics_port=PORT, egress=[dns_egress(), *egress_to_ports(probe_ports)]
        )
        self.prober_address = pulumi.Output.concat(COMPONENT, ".", wiring.namespace, ".svc:", str(PORT))
        self.probe = None
        self.rules = None
        # One Probe per service: the service/layer labels differ per target.
        self.service_probes = [
            k8s.apiextensions.CustomResource(
                f"service-health-{service}",
                api_version="monitoring.coreos.com/v1",
                kind="Probe",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"service-health-{service}", namespace=wiring.namespace, labels=labels(COMPONENT)),
                spec={
                    "jobName": SERVICE_PROBE_JOB,
                    "interval": "30s",
                    "module": HEALTH_MODULE,
                    "prober": {"url": self.prober_address, "path": "/probe"},
                    "targets": {"staticConfig": {"static": [health_url], "labels": {"service": service, "layer": layer}}},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[wiring.operator, self.service]),
            )
            for service, layer, health_url in settings.service_probes
        ]
        if settings.urls:
            # A Probe CR: the operator turns it into a /probe scrape with the target as a parameter.
            self.probe = k8s.apiextensions.CustomResource(
                "portal",
                api_version="monitoring.coreos.com/v1",
                kind="Probe",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="portal", namespace=wiring.namespace, labels=labels(COMPONENT)),
                spec={
                    "jobName": PROBE_JOB,
                    "interval": "30s",
                    "module": HTTP_MODULE,
                    "prober": {"url": self.prober_address, "path": "/probe"},
                    "targets": {"staticConfig": {"static": list(settings.urls), "labels": {"layer": "user"}}},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[wiring.operator, self.service]),
            )
        groups = portal_rule_groups(portal=bool(settings.urls), services=bool(settings.service_probes))
        if groups:
            self.rules = domain_rule("portal", wiring, self, COMPONENT, DASHBOARD, groups=groups)
        self.register_outputs(
            {"proberAddress": self.prober_address, "urls": list(settings.urls), "services": [s for s, _, _ in settings.service_probes]}
        )
