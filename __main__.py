"""dataops-monitoring: compose the monitoring stack for one environment.

Read the stack's settings, build one component per domain (a domain the stack turns off
deploys nothing), export what an operator needs. Each component takes its own settings
object and the one wiring of the stack (core/wiring.py).
"""

import pulumi
import pulumi_kubernetes as k8s

from components import bitbucket, spark
from components.airflow import AirflowMonitoring
from components.alerting import Alerting, AlertingArgs, alertmanager_wiring
from components.bitbucket import BitbucketMonitoring
from components.ceph import CephMonitoring
from components.dashboards import Dashboards, DashboardsArgs
from components.gitops import GitOpsMonitoring
from components.hive import HiveMonitoring
from components.iceberg import IcebergExporter
from components.oracle import OracleMonitoring
from components.platform import PlatformMonitoring, deployed_layers
from components.portal import PortalMonitoring
from components.powerscale import PowerScaleMonitoring
from components.prometheus_stack import ChartContributions, PrometheusStack
from components.spark import SparkMonitoring
from components.storage import StorageMonitoring
from components.thanos import Thanos, ruler_enabled, thanos_datasource, thanos_sidecar
from components.trino import TrinoMonitoring
from core.k8s import labels
from core.wiring import Wiring
from settings import load_settings

settings = load_settings()
cluster = settings.cluster

# Every resource goes through this provider: the stack's own cluster, never whatever kube
# context is current on the build agent. Server-side apply updates ConfigMaps and Secrets in place.
provider = k8s.Provider(
    "kubernetes",
    context=cluster.context,
    kubeconfig=cluster.kubeconfig,
    enable_server_side_apply=True,
    # Update ConfigMaps and Secrets in place: by default the provider replaces them on every
    # content change, and for a named object that is delete-then-create, a window in which
    # Grafana's dashboards, Alertmanager's config or its credentials do not exist (make e2e
    # showed a password rotation as a replace). Their readers (sidecars, reloaders) re-read in place.
    enable_config_map_mutable=True,
    enable_secret_mutable=True,
)
namespace = settings.namespace  # createNamespace: false: the namespace exists already
if cluster.create_namespace:
    namespace = k8s.core.v1.Namespace(
        "monitoring-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace, labels=labels("monitoring")),
        opts=pulumi.ResourceOptions(provider=provider, protect=cluster.protect),
    ).metadata.name
wiring = Wiring(
    namespace=namespace,
    links=settings.links,
    opts=pulumi.ResourceOptions(providers=[provider]),
    protect=cluster.protect,
    storage_class=settings.storage_class,
    external_labels=settings.external_labels,
)

stack = PrometheusStack(
    "prometheus-stack",
    settings.prometheus_stack,
    wiring,
    ChartContributions(
        thanos_sidecar=thanos_sidecar(settings.thanos, settings.namespace),  # None when Thanos is off
        thanos_datasource=thanos_datasource(settings.thanos, settings.namespace),
        alertmanager_wiring=alertmanager_wiring(),  # the Secrets Alerting creates
        values=(spark.chart_values(),) + ((bitbucket.chart_values(),) if settings.bitbucket.enabled else ()),
    ),
)
wiring = wiring.with_operator(stack.operator)
optional_layers = {
    "hive": settings.hive.enabled,
    "ceph": settings.ceph.enabled,
    "oracle": settings.oracle.enabled,
    "powerscale": settings.powerscale.enabled,
    "bitbucket": settings.bitbucket.enabled,
}

thanos = Thanos("thanos", settings.thanos, wiring) if settings.thanos.enabled else None
SparkMonitoring("spark", settings.spark, wiring)
airflow = AirflowMonitoring("airflow", settings.airflow, wiring)
TrinoMonitoring("trino", settings.trino, wiring)
StorageMonitoring("storage", settings.storage, wiring)
PlatformMonitoring("platform", deployed_layers(iceberg_exporter=settings.iceberg.enabled, gitops=settings.gitops.enabled, **optional_layers), wiring)
# The stack's blackbox_exporter: the Portal's URLs, the services' health endpoints and the
# Hive Metastore's Thrift probe (tcp_connect), whichever the stack has.
portal = None
if settings.portal.urls or settings.portal.service_probes or settings.hive.enabled:
    portal = PortalMonitoring("portal", settings.portal, wiring, tcp_probe_ports=(settings.hive.thrift_port,) if settings.hive.enabled else ())
if settings.gitops.enabled:
    GitOpsMonitoring("gitops", settings.gitops, wiring)
if settings.iceberg.enabled:
    IcebergExporter("iceberg-exporter", settings.iceberg, wiring)
if settings.hive.enabled and portal is not None:
    HiveMonitoring("hive", settings.hive, wiring, prober=portal)
if settings.ceph.enabled:
    CephMonitoring("ceph", settings.ceph, wiring)
if settings.oracle.enabled:
    OracleMonitoring("oracle", settings.oracle, wiring)
if settings.powerscale.enabled:
    PowerScaleMonitoring("powerscale", settings.powerscale, wiring)
if settings.bitbucket.enabled:
    BitbucketMonitoring("bitbucket", settings.bitbucket, wiring)

dashboard_parts = {**optional_layers, "service_probes": bool(settings.portal.service_probes)}
Dashboards("dashboards", DashboardsArgs(slos=settings.slos, parts=frozenset(k for k, on in dashboard_parts.items() if on)), wiring)
Alerting(
    "alerting",
    AlertingArgs(
        routing=settings.routing,
        slos=settings.slos,
        cluster_name=settings.cluster_name,
        environment=settings.environment,
        evaluation_interval=settings.prometheus.evaluation_interval,
        # With Thanos, SLO budgets longer than the retention go to the Thanos Ruler.
        thanos_ruler=ruler_enabled(settings.thanos),
        retention=settings.prometheus.retention,
    ),
    wiring,
)

pulumi.export("environment", settings.environment)
pulumi.export("kubeContext", cluster.context)
pulumi.export("namespace", namespace)
# What an operator opens: Grafana at its external URL; the rest in-cluster, with the
# port-forward that reaches each from a workstation.
pulumi.export("grafanaUrl", settings.grafana.url)
pulumi.export("prometheusUrl", stack.prometheus_url)
pulumi.export("alertmanagerUrl", stack.alertmanager_url)
pulumi.export("portForward", stack.port_forward)
pulumi.export("grafanaAdminUser", settings.grafana.admin_user)
pulumi.export("grafanaAdminPassword", stack.grafana_admin_password)
pulumi.export("airflowStatsdHost", airflow.statsd_host)
if thanos is not None:
    pulumi.export("thanosQueryUrl", thanos.query_url)
