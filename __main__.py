"""dataops-monitoring: compose the monitoring stack for one environment."""

import pulumi
import pulumi_kubernetes as k8s

from components.common import labels
from components.prometheus_stack import PrometheusStack, PrometheusStackArgs
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
    ),
)

pulumi.export("environment", settings.environment)
pulumi.export("namespace", namespace.metadata.name)
pulumi.export("prometheusUrl", stack.prometheus_url)
pulumi.export("alertmanagerUrl", stack.alertmanager_url)
pulumi.export("grafanaAdminUser", settings.grafana.admin_user)
pulumi.export("grafanaAdminPassword", stack.grafana_admin_password)
