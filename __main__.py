"""dataops-monitoring: compose the monitoring stack for one environment.

Read the stack's settings, build one component per domain (a domain the stack turns off
deploys nothing), export what an operator needs. Each component takes its own settings
object and the one wiring of the stack (core/wiring.py).
"""

import pulumi
import pulumi_kubernetes as k8s

from components.alerting import Alerting, AlertingArgs, alertmanager_wiring
from components.dashboards import Dashboards, DashboardsArgs
from components.jvm import JvmMonitoring, runs_jvms
from components.platform import PlatformMonitoring
from components.portal import PortalMonitoring
from components.prometheus_stack import ChartContributions, PrometheusStack
from components.thanos import Thanos, ruler_enabled, thanos_datasource, thanos_sidecar
from core.k8s import labels
from core.layers import counted_layers, deployed_layers, layers as declared_layers
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

# The platform layers this stack deploys (each domain package declares its LAYER).
layers = deployed_layers(declared_layers(), settings.domains)
stack = PrometheusStack(
    "prometheus-stack",
    settings.prometheus_stack,
    wiring,
    ChartContributions(
        thanos_sidecar=thanos_sidecar(settings.thanos, settings.namespace),  # None when Thanos is off
        thanos_datasource=thanos_datasource(settings.thanos, settings.namespace),
        alertmanager_wiring=alertmanager_wiring(),  # the Secrets Alerting creates
        values=tuple(layer.chart_values() for layer in layers if layer.chart_values),
    ),
)
wiring = wiring.with_operator(stack.operator)
thanos = Thanos("thanos", settings.thanos, wiring) if settings.thanos.enabled else None
# The stack's blackbox_exporter: the Portal's URLs, the services' health endpoints and the
# Hive Metastore's Thrift probe (tcp_connect), whichever the stack has.
if settings.portal.urls or settings.portal.service_probes or settings.hive.enabled:
    tcp_probe_ports = (settings.hive.thrift_port,) if settings.hive.enabled else ()
    wiring = wiring.with_prober(PortalMonitoring("portal", settings.portal, wiring, tcp_probe_ports=tcp_probe_ports))

built = {layer.name: layer.component(layer.resource_name or layer.name, settings.domains[layer.name], wiring) for layer in layers}
PlatformMonitoring("platform", [layer.name for layer in counted_layers(layers, settings.domains)], wiring,
                   namespaces=settings.trino.namespaces if settings.trino.enabled else ())
if runs_jvms(layers):
    JvmMonitoring("jvm", [layer.name for layer in layers if layer.runs_jvm], wiring)
# Rows of optional layers the stack does not deploy are left out rather than shown empty.
parts = {layer.dashboard_part for layer in layers if layer.dashboard_part} | ({"service_probes"} if settings.portal.service_probes else set())
Dashboards("dashboards", DashboardsArgs(slos=settings.slos, parts=frozenset(parts)), wiring)
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
if "airflow" in built:
    pulumi.export("airflowStatsdHost", built["airflow"].statsd_host)
if thanos is not None:
    pulumi.export("thanosQueryUrl", thanos.query_url)
