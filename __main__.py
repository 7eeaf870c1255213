"""dataops-monitoring: compose the monitoring stack for one environment."""

import pulumi
import pulumi_kubernetes as k8s

from components import spark
from components.airflow import AirflowMonitoring, AirflowMonitoringArgs
from components.alerting import Alerting, AlertingArgs, alertmanager_wiring
from components.common import labels
from components.dashboards import Dashboards, DashboardsArgs
from components.gitops import GitOpsMonitoring, GitOpsMonitoringArgs
from components.iceberg import IcebergExporter, IcebergExporterArgs
from components.platform import PlatformMonitoring, PlatformMonitoringArgs, deployed_layers
from components.portal import PortalMonitoring, PortalMonitoringArgs
from components.prometheus_stack import PrometheusStack, PrometheusStackArgs
from components.spark import SparkMonitoring, SparkMonitoringArgs
from components.thanos import Thanos, ThanosArgs, thanos_datasource, thanos_sidecar
from components.trino import TrinoMonitoring, TrinoMonitoringArgs
from settings import load_settings

settings = load_settings()

namespace = k8s.core.v1.Namespace(
    "monitoring-namespace",
    metadata=k8s.meta.v1.ObjectMetaArgs(name=settings.namespace, labels=labels("monitoring")),
)

stack = PrometheusStack(
    "prometheus-stack",
    PrometheusStackArgs(
        namespace=namespace.metadata.name,
        chart_version=settings.chart_version,
        helm_repository=settings.helm_repository,
        storage_class=settings.storage_class,
        external_labels=settings.external_labels,
        prometheus=settings.prometheus,
        grafana=settings.grafana,
        alertmanager=settings.alertmanager,
        # Alertmanager mounts the config and credential Secrets that Alerting creates.
        alertmanager_wiring=alertmanager_wiring(),
        # None when Thanos is off: no sidecar, Grafana's default datasource stays Prometheus.
        thanos_sidecar=thanos_sidecar(settings.thanos, settings.namespace),
        thanos_datasource=thanos_datasource(settings.thanos, settings.namespace),
        values_contributions=(spark.chart_values(),),
    ),
)

thanos = None
if settings.thanos.enabled:
    thanos = Thanos(
        "thanos",
        ThanosArgs(
            namespace=namespace.metadata.name,
            storage_class=settings.storage_class,
            thanos=settings.thanos,
            operator=stack.operator,
            pdb=settings.is_prod,
            store_replicas=2 if settings.is_prod else 1,
        ),
    )

workloads = settings.workloads
SparkMonitoring(
    "spark",
    SparkMonitoringArgs(
        namespace=namespace.metadata.name,
        spark_namespaces=workloads.spark_namespaces,
        operator_namespace=workloads.spark_operator_namespace,
        operator=stack.operator,
    ),
)
airflow = AirflowMonitoring(
    "airflow",
    AirflowMonitoringArgs(namespace=namespace.metadata.name, image=workloads.statsd_exporter_image, operator=stack.operator),
)
TrinoMonitoring(
    "trino",
    TrinoMonitoringArgs(
        namespace=namespace.metadata.name,
        trino_namespace=workloads.trino_namespace,
        user=workloads.trino_user,
        password=workloads.trino_password,
        operator=stack.operator,
    ),
)
PlatformMonitoring(
    "platform",
    PlatformMonitoringArgs(
        namespace=namespace.metadata.name,
        minio_namespace=workloads.minio_namespace,
        minio_token=workloads.minio_token,
        operator=stack.operator,
        layers=deployed_layers(iceberg_exporter=settings.iceberg.enabled, gitops=settings.gitops.enabled),
    ),
)
if workloads.portal_urls:
    PortalMonitoring(
        "portal",
        PortalMonitoringArgs(
            namespace=namespace.metadata.name,
            urls=workloads.portal_urls,
            image=workloads.blackbox_exporter_image,
            operator=stack.operator,
        ),
    )
if settings.gitops.enabled:
    GitOpsMonitoring(
        "gitops",
        GitOpsMonitoringArgs(
            namespace=namespace.metadata.name,
            argocd_namespace=settings.gitops.argocd_namespace,
            jenkins_namespace=settings.gitops.jenkins_namespace,
            operator=stack.operator,
        ),
    )
if settings.iceberg.enabled:
    IcebergExporter(
        "iceberg-exporter",
        IcebergExporterArgs(namespace=namespace.metadata.name, exporter=settings.iceberg, operator=stack.operator),
    )

# Grafana dashboards (guide Phase 2): one ConfigMap each, picked up by Grafana's sidecar.
Dashboards("dashboards", DashboardsArgs(namespace=namespace.metadata.name, operator=stack.operator))

# After PrometheusStack: Alertmanager config/credential Secrets, alert and SLO PrometheusRules.
Alerting(
    "alerting",
    AlertingArgs(
        namespace=namespace.metadata.name,
        cluster_name=settings.cluster_name,
        environment=settings.environment,
        routing=settings.routing,
        slos=settings.slos,
        evaluation_interval=settings.prometheus.evaluation_interval,
        operator=stack.operator,
    ),
)

pulumi.export("environment", settings.environment)
pulumi.export("namespace", namespace.metadata.name)
pulumi.export("prometheusUrl", stack.prometheus_url)
pulumi.export("alertmanagerUrl", stack.alertmanager_url)
pulumi.export("grafanaAdminUser", settings.grafana.admin_user)
pulumi.export("grafanaAdminPassword", stack.grafana_admin_password)
pulumi.export("airflowStatsdHost", airflow.statsd_host)
if thanos is not None:
    pulumi.export("thanosQueryUrl", thanos.query_url)
