"""dataops-monitoring: compose the monitoring stack for one environment.

Read the stack's settings, build one component per domain (a domain the stack turns off
deploys nothing), export what an operator needs.
"""

import pulumi
import pulumi_kubernetes as k8s

from components import bitbucket, spark
from components.airflow import AirflowMonitoring, AirflowMonitoringArgs
from components.alerting import Alerting, AlertingArgs, alertmanager_wiring
from components.bitbucket import BitbucketMonitoring, BitbucketMonitoringArgs
from components.ceph import CephMonitoring, CephMonitoringArgs
from components.dashboards import Dashboards, DashboardsArgs
from components.gitops import GitOpsMonitoring, GitOpsMonitoringArgs
from components.hive import HiveMonitoring, HiveMonitoringArgs
from components.iceberg import IcebergExporter, IcebergExporterArgs
from components.oracle import OracleMonitoring, OracleMonitoringArgs
from components.platform import PlatformMonitoring, PlatformMonitoringArgs, deployed_layers
from components.portal import PortalMonitoring, PortalMonitoringArgs
from components.powerscale import PowerScaleMonitoring, PowerScaleMonitoringArgs
from components.prometheus_stack import PrometheusStack, PrometheusStackArgs
from components.spark import SparkMonitoring, SparkMonitoringArgs
from components.storage import StorageMonitoring, StorageMonitoringArgs
from components.thanos import Thanos, ThanosArgs, ruler_enabled, thanos_datasource, thanos_sidecar
from components.trino import TrinoMonitoring, TrinoMonitoringArgs
from core.k8s import labels
from settings import load_settings

settings = load_settings()
links = settings.links
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
# Components hand the provider down to their children; protect guards what holds monitoring data.
opts = pulumi.ResourceOptions(providers=[provider])

if cluster.create_namespace:
    namespace = k8s.core.v1.Namespace(
        "monitoring-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace, labels=labels("monitoring")),
        opts=pulumi.ResourceOptions(provider=provider, protect=cluster.protect),
    )
    ns = namespace.metadata.name
else:
    ns = settings.namespace  # the namespace exists already (createNamespace: false)

stack = PrometheusStack(
    "prometheus-stack",
    PrometheusStackArgs(
        namespace=ns,
        chart_version=settings.chart.version,
        helm_repository=settings.chart.repository,
        chart_location=settings.chart.location,
        storage_class=settings.storage_class,
        external_labels=settings.external_labels,
        prometheus=settings.prometheus,
        grafana=settings.grafana,
        alertmanager=settings.alertmanager,
        links=links,
        protect=cluster.protect,
        # Alertmanager mounts the config and credential Secrets that Alerting creates.
        alertmanager_wiring=alertmanager_wiring(),
        # None when Thanos is off: no sidecar, Grafana's default datasource stays Prometheus.
        thanos_sidecar=thanos_sidecar(settings.thanos, settings.namespace),
        thanos_datasource=thanos_datasource(settings.thanos, settings.namespace),
        # Bitbucket's scrape job lives in a Secret (its token is a query parameter).
        values_contributions=(spark.chart_values(),) + ((bitbucket.chart_values(),) if settings.bitbucket.enabled else ()),
    ),
    opts,
)
operator = stack.operator
# The issue 12 layers this stack deploys: each is off unless its settings name a target.
optional_layers = {
    "hive": settings.hive.enabled,
    "ceph": settings.ceph.enabled,
    "oracle": settings.oracle.enabled,
    "powerscale": settings.powerscale.enabled,
    "bitbucket": settings.bitbucket.enabled,
}

thanos = None
if settings.thanos.enabled:
    thanos = Thanos(
        "thanos",
        ThanosArgs(
            namespace=ns,
            storage_class=settings.storage_class,
            thanos=settings.thanos,
            operator=operator,
            links=links,
            pdb=settings.is_prod,
            protect=cluster.protect,
            store_replicas=2 if settings.is_prod else 1,
            external_labels=settings.external_labels,
        ),
        opts,
    )

SparkMonitoring(
    "spark",
    SparkMonitoringArgs(
        namespace=ns,
        spark_namespaces=settings.spark.namespaces,
        operator_namespace=settings.spark.operator_namespace,
        operator=operator,
        links=links,
    ),
    opts,
)
airflow = AirflowMonitoring(
    "airflow",
    AirflowMonitoringArgs(namespace=ns, image=settings.airflow.statsd_exporter_image, operator=operator, links=links, airflow_namespaces=settings.airflow.namespaces),
    opts,
)
TrinoMonitoring(
    "trino",
    TrinoMonitoringArgs(
        namespace=ns,
        trino_namespace=settings.trino.namespace,
        user=settings.trino.user,
        password=settings.trino.password,
        operator=operator,
        links=links,
    ),
    opts,
)
StorageMonitoring(
    "storage",
    StorageMonitoringArgs(
        namespace=ns,
        minio_namespace=settings.storage.minio_namespace,
        minio_token=settings.storage.minio_token,
        operator=operator,
        links=links,
    ),
    opts,
)
PlatformMonitoring(
    "platform",
    PlatformMonitoringArgs(
        namespace=ns,
        operator=operator,
        links=links,
        layers=deployed_layers(iceberg_exporter=settings.iceberg.enabled, gitops=settings.gitops.enabled, **optional_layers),
    ),
    opts,
)
# PortalMonitoring runs the stack's blackbox_exporter: for the Portal's URLs, the services'
# own health endpoints (probe*Url) and the Hive Metastore's Thrift probe (tcp_connect),
# whichever the stack has.
portal = None
if settings.portal.urls or settings.portal.service_probes or settings.hive.enabled:
    portal = PortalMonitoring(
        "portal",
        PortalMonitoringArgs(
            namespace=ns,
            urls=settings.portal.urls,
            image=settings.portal.blackbox_exporter_image,
            operator=operator,
            links=links,
            tcp_connect=settings.hive.enabled,
            probe_ports=(settings.hive.thrift_port,) if settings.hive.enabled else (),
            service_probes=settings.portal.service_probes,
        ),
        opts,
    )
if settings.gitops.enabled:
    GitOpsMonitoring(
        "gitops",
        GitOpsMonitoringArgs(
            namespace=ns,
            argocd_namespace=settings.gitops.argocd_namespace,
            jenkins_namespace=settings.gitops.jenkins_namespace,
            operator=operator,
            links=links,
        ),
        opts,
    )
if settings.iceberg.enabled:
    IcebergExporter("iceberg-exporter", IcebergExporterArgs(namespace=ns, exporter=settings.iceberg, operator=operator, links=links), opts)

# Issue 12 layers: each is off unless its settings name a target.
if settings.hive.enabled and portal is not None:
    HiveMonitoring(
        "hive",
        HiveMonitoringArgs(
            namespace=ns,
            thrift_address=settings.hive.thrift_address,
            hive_namespace=settings.hive.namespace,
            prober_address=portal.prober_address,
            prober=portal.service,
            operator=operator,
            links=links,
        ),
        opts,
    )
if settings.ceph.enabled:
    CephMonitoring("ceph", CephMonitoringArgs(namespace=ns, ceph_namespace=settings.ceph.namespace, operator=operator, links=links), opts)
if settings.oracle.enabled:
    OracleMonitoring(
        "oracle",
        OracleMonitoringArgs(
            namespace=ns,
            dsn=settings.oracle.dsn,
            image=settings.oracle.image,
            database_name=settings.oracle.database,
            database_port=settings.oracle.port,
            operator=operator,
            links=links,
        ),
        opts,
    )
if settings.powerscale.enabled:
    PowerScaleMonitoring(
        "powerscale",
        PowerScaleMonitoringArgs(
            namespace=ns,
            url=settings.powerscale.url,
            user=settings.powerscale.user,
            password=settings.powerscale.password,
            operator=operator,
            links=links,
        ),
        opts,
    )
if settings.bitbucket.enabled:
    BitbucketMonitoring(
        "bitbucket",
        BitbucketMonitoringArgs(namespace=ns, url=settings.bitbucket.url, token=settings.bitbucket.token, operator=operator, links=links),
        opts,
    )

# Grafana dashboards (guide Phase 2): one ConfigMap each, picked up by Grafana's sidecar.
# Rows of optional layers the stack does not deploy are left out rather than shown empty.
dashboard_parts = {**optional_layers, "service_probes": bool(settings.portal.service_probes)}
Dashboards(
    "dashboards",
    DashboardsArgs(namespace=ns, operator=operator, slos=settings.slos, parts=frozenset(k for k, on in dashboard_parts.items() if on)),
    opts,
)

# After PrometheusStack: Alertmanager config/credential Secrets and the SLO PrometheusRule.
Alerting(
    "alerting",
    AlertingArgs(
        namespace=ns,
        cluster_name=settings.cluster_name,
        environment=settings.environment,
        routing=settings.routing,
        slos=settings.slos,
        evaluation_interval=settings.prometheus.evaluation_interval,
        operator=operator,
        links=links,
        # With Thanos, SLO budgets longer than the retention go to the Thanos Ruler.
        thanos_ruler=ruler_enabled(settings.thanos),
        retention=settings.prometheus.retention,
    ),
    opts,
)

pulumi.export("environment", settings.environment)
pulumi.export("kubeContext", cluster.context)
pulumi.export("namespace", ns)
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
