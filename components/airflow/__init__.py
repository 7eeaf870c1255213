"""AirflowMonitoring: statsd_exporter with our mapping, scraped by a ServiceMonitor."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components.airflow.settings import AirflowSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import deployment_with_service, dump_yaml, exporter_network_policy, labels, load_asset, monitor, namespace_peer, restricted_security_context
from core.rules import domain_rule

COMPONENT = "airflow-statsd-exporter"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-03-workload"
STATSD_PORT = 9125
METRICS_PORT = 9102
MAPPING_KEY = "mapping.yaml"
REPLICAS = 1  # statsd_exporter keeps no state: one pod, rescheduled if it goes


class AirflowMonitoring(pulumi.ComponentResource):
    """Airflow pushes statsd over UDP; statsd_exporter turns it into Prometheus metrics.

    Point Airflow at ``statsd_host``/``statsd_port`` (``[metrics] statsd_on = True``).
    """

    statsd_host: pulumi.Output[str]
    statsd_port: int

    def __init__(self, name: str, settings: AirflowSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:AirflowMonitoring", name, None, wiring.opts)
        child = pulumi.ResourceOptions(parent=self)
        selector = {"app.kubernetes.io/name": COMPONENT}

        mapping = dump_yaml(load_asset(__file__, "airflow-statsd-mapping.yaml"))
        config_map = k8s.core.v1.ConfigMap(
            "airflow-statsd-mapping",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="airflow-statsd-mapping", namespace=wiring.namespace, labels=labels(COMPONENT)),
            data={MAPPING_KEY: mapping},
            opts=child,
        )
        # A mapping change must roll the pods: statsd_exporter reads the file at start.
        checksum = hashlib.sha256(mapping.encode()).hexdigest()[:16]
        container = k8s.core.v1.ContainerArgs(
            name="statsd-exporter",
            image=settings.statsd_exporter_image,
            args=[
                f"--statsd.mapping-config=/etc/statsd/{MAPPING_KEY}",
                f"--statsd.listen-udp=:{STATSD_PORT}",
                f"--statsd.listen-tcp=:{STATSD_PORT}",
                f"--web.listen-address=:{METRICS_PORT}",
            ],
            ports=[
                k8s.core.v1.ContainerPortArgs(name="statsd-udp", container_port=STATSD_PORT, protocol="UDP"),
                k8s.core.v1.ContainerPortArgs(name="statsd-tcp", container_port=STATSD_PORT, protocol="TCP"),
                k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT, protocol="TCP"),
            ],
            readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="metrics"), period_seconds=10),
            liveness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="metrics"), period_seconds=20),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
            ),
            security_context=restricted_security_context(65534),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="mapping", mount_path="/etc/statsd", read_only=True)],
        )
        self.deployment, self.service = deployment_with_service(
            COMPONENT,
            wiring.namespace,
            container,
            [
                k8s.core.v1.ServicePortArgs(name="statsd-udp", port=STATSD_PORT, target_port="statsd-udp", protocol="UDP"),
                k8s.core.v1.ServicePortArgs(name="statsd-tcp", port=STATSD_PORT, target_port="statsd-tcp", protocol="TCP"),
                k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_PORT, target_port="metrics", protocol="TCP"),
            ],
            self,
            replicas=REPLICAS,
            volumes=[k8s.core.v1.VolumeArgs(name="mapping", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="airflow-statsd-mapping"))],
            pod_annotations={"checksum/mapping": checksum},
            depends_on=[config_map],
        )
        # Prometheus scrapes :9102; Airflow's pods send statsd to :9125; the exporter opens no connection.
        self.network_policy = exporter_network_policy(
            COMPONENT,
            wiring.namespace,
            self,
            metrics_port=METRICS_PORT,
            extra_ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(list(settings.namespaces))],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(port=STATSD_PORT, protocol="UDP"),
                        k8s.networking.v1.NetworkPolicyPortArgs(port=STATSD_PORT, protocol="TCP"),
                    ],
                )
            ],
        )
        # The job label is the Service name, airflow-statsd-exporter: rules/platform.rules.yaml's airflow layer.
        self.service_monitor = monitor(
            "ServiceMonitor",
            COMPONENT,
            wiring.namespace,
            {
                "selector": {"matchLabels": selector},
                "namespaceSelector": {"matchNames": [wiring.namespace]},
                "endpoints": [{"port": "metrics", "interval": "30s", "path": "/metrics"}],
            },
            self,
            wiring.operator,
            COMPONENT,
        )
        self.rules = domain_rule("airflow", wiring, self, "airflow-monitoring", DASHBOARD)
        self.statsd_host = pulumi.Output.concat(COMPONENT, ".", wiring.namespace, ".svc.cluster.local")
        self.statsd_port = STATSD_PORT
        self.register_outputs({"statsdHost": self.statsd_host, "statsdPort": STATSD_PORT})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("airflow", jobs="(.+/)?(airflow|statsd).*", component=AirflowMonitoring, deployed=lambda settings: settings.enabled)
