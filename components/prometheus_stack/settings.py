"""Settings of the kube-prometheus-stack release: chart, Prometheus, Grafana, Alertmanager."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

import pulumi

from core.parsers import byte_quantity_between, chart_location, cidr, duration_between, exact_semver, http_url, int_between, non_empty, one_of, parse_bool, parse_quantity, parse_string_list, pattern, quantity_between, url, user_name

from core.settings import PROJECT, Reader, setting

# A Kubernetes object name (DNS subdomain): IngressClass, Secret.
_K8S_NAME = pattern(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", "must be a Kubernetes object name (lower-case letters, digits, '-' and '.')")

SETTINGS = (
    setting("kubePrometheusStackVersion", "string", "Exact kube-prometheus-stack chart version (55 or newer).", exact_semver(55), "88.5.3"),
    setting("helmRepository", "string", "Helm repository of kube-prometheus-stack.", url("https", "http", "oci", example="https://prometheus-community.github.io/helm-charts"), "https://prometheus-community.github.io/helm-charts"),
    setting(
        "kubePrometheusStackChart",
        "string",
        "The chart from elsewhere than helmRepository (air-gapped clusters): an oci:// reference to the chart in an internal registry, or a local .tgz or chart directory (relative to the project). Its version must still be kubePrometheusStackVersion.",
        chart_location,
        optional=True,
        example="oci://registry.example.com/charts/kube-prometheus-stack",
    ),
    # Prometheus (prod defaults are the guide's values)
    setting("prometheusReplicas", "integer", "Prometheus replicas (HA pairs deduplicated by Thanos Query).", int_between(1, 10), 2),
    setting("prometheusAntiAffinity", "string", "Pod anti-affinity between Prometheus replicas: hard, soft or none.", one_of("hard", "soft", "none"), "hard"),
    setting("prometheusRetention", "string", "Local retention of raw samples in Prometheus (older data lives in Thanos).", duration_between("2h", "1y", "Prometheus cuts 2h blocks"), "15d"),
    setting("prometheusStorageSize", "string", "Prometheus volume size per replica.", byte_quantity_between("1Gi", "64Ti"), "50Gi"),
    setting("prometheusCpuRequest", "string", "Prometheus CPU request.", quantity_between("100m", "64"), "2000m"),
    setting("prometheusCpuLimit", "string", "Prometheus CPU limit.", quantity_between("100m", "64"), "4000m"),
    setting("prometheusMemoryRequest", "string", "Prometheus memory request.", byte_quantity_between("256Mi", "1Ti"), "8Gi"),
    setting("prometheusMemoryLimit", "string", "Prometheus memory limit.", byte_quantity_between("256Mi", "1Ti"), "16Gi"),
    setting("prometheusScrapeInterval", "string", "Default scrape interval (enters the MTTD budget).", duration_between("5s", "2m", "series go stale after 5m without a sample"), "30s"),
    setting("prometheusEvaluationInterval", "string", "Default rule evaluation interval (enters the MTTD budget).", duration_between("5s", "2m", "alerts would fire minutes late"), "30s"),
    # Grafana
    setting("grafanaUrl", "string", "External URL of Grafana: alert notifications link dashboards under it; Grafana's root_url.", http_url, "https://grafana.dataops.internal"),
    setting("grafanaAdminUser", "string", "Grafana admin user name; the password is generated and exported as a secret.", user_name, "admin"),
    setting(
        "grafanaAdminPassword",
        "string",
        "Grafana admin password, for teams whose password policy sets it; when unset a 32-character one is generated (pulumi-random) and exported as a secret.",
        non_empty,
        optional=True,
        secret=True,
        example="<password>",
        render_placeholder=False,
    ),
    setting("grafanaStorageSize", "string", "Grafana volume size.", byte_quantity_between("1Gi", "1Ti"), "10Gi"),
    # Grafana's Ingress: its host and path are grafanaUrl's (one home for the address alerts link to).
    setting("grafanaIngressEnabled", "boolean", "Expose Grafana through an Ingress (chart grafana.ingress) at grafanaUrl's host and path.", parse_bool, False),
    setting("grafanaIngressClassName", "string", "IngressClass of Grafana's Ingress; unset: the cluster's default class.", _K8S_NAME, optional=True, example="nginx"),
    setting("grafanaIngressTlsSecret", "string", "Secret (type kubernetes.io/tls, in the monitoring namespace) with the certificate for grafanaUrl's host; unset: TLS ends before the Ingress (or is off).", _K8S_NAME, optional=True, example="grafana-tls"),
    setting(
        "kubePrometheusStackValues",
        "object",
        "Escape hatch: chart values deep-merged over the ones this program computes (e.g. grafana.grafana.ini.auth.generic_oauth, nodeExporter, kube-state-metrics tuning). Keys a setting controls are refused with the setting to use; credentials belong in Secrets the chart references, never here.",
        lambda value: value,
        optional=True,
        example="defaultRules.rules.etcd false",
    ),
    # Alertmanager
    setting("alertmanagerReplicas", "integer", "Alertmanager replicas (gossip cluster).", int_between(1, 7), 3),
    setting("alertmanagerRetention", "string", "How long Alertmanager keeps silences and notification state.", duration_between("1h", "1y"), "120h"),
    setting("alertmanagerStorageSize", "string", "Alertmanager volume size.", byte_quantity_between("100Mi", "1Ti"), "5Gi"),
    # NetworkPolicies of the monitoring namespace (components/prometheus_stack/network.py)
    setting(
        "kubeApiServerCidrs",
        "array",
        "CIDRs of the Kubernetes API server (kubectl get endpoints kubernetes -n default), the egress the operator, Prometheus (service discovery), Grafana's sidecars and kube-state-metrics get on ports 443 and 6443. Default: any address on those two ports; set the API server's addresses to narrow it.",
        parse_string_list,
        ("0.0.0.0/0",),
        example='["10.0.0.1/32"]',
    ),
    setting("controlPlaneMonitoring", "boolean", "Scrape and alert on the cluster's controller manager, scheduler, etcd and kube-proxy (the chart's ServiceMonitors and rule groups); false on a managed cluster where they cannot be scraped.", parse_bool, True),
)


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class PrometheusSettings:
    replicas: int
    anti_affinity: str
    retention: str
    storage_size: str
    resources: Resources
    scrape_interval: str
    evaluation_interval: str


@dataclass(frozen=True)
class GrafanaIngress:
    """Grafana's Ingress at grafanaUrl's host and path."""

    host: str
    path: str
    class_name: Optional[str] = None
    tls_secret: Optional[str] = None


@dataclass(frozen=True)
class GrafanaSettings:
    url: str
    admin_user: str
    storage_size: str
    admin_password: Optional[pulumi.Output] = None  # None: generated
    ingress: Optional[GrafanaIngress] = None  # None: no Ingress (port-forward or the team's own)


@dataclass(frozen=True)
class AlertmanagerSettings:
    replicas: int
    retention: str
    storage_size: str


@dataclass(frozen=True)
class ChartSettings:
    version: str
    repository: str
    location: Optional[str] = None  # an OCI reference or a local chart instead of the repository


@dataclass(frozen=True)
class PrometheusStackSettings:
    chart: ChartSettings
    prometheus: PrometheusSettings
    grafana: GrafanaSettings
    alertmanager: AlertmanagerSettings
    # kubePrometheusStackValues: merged last, over every value the program computes.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    api_server_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    # The stack's profile (dev, staging, prod): sizes the chart's containers (hardening.py).
    profile: str = "dev"
    # controlPlaneMonitoring (components/prometheus_stack/control_plane.py)
    control_plane_monitoring: bool = True


def read(reader: Reader) -> PrometheusStackSettings:
    g = reader.get
    resources = Resources(
        cpu_request=g("prometheusCpuRequest"),
        cpu_limit=g("prometheusCpuLimit"),
        memory_request=g("prometheusMemoryRequest"),
        memory_limit=g("prometheusMemoryLimit"),
    )
    for kind in ("Cpu", "Memory"):
        # Compared only when both are valid: a bad value is reported on its own.
        request, limit = reader.peek(f"prometheus{kind}Request"), reader.peek(f"prometheus{kind}Limit")
        if request is None or limit is None:
            continue
        if parse_quantity(request) > parse_quantity(limit):
            reader.problem(
                f"{PROJECT}:prometheus{kind}Request = {request!r} is larger than {PROJECT}:prometheus{kind}Limit = {limit!r}. "
                f"Fix: pulumi config set {PROJECT}:prometheus{kind}Limit <at least {request}>"
            )
    prometheus = PrometheusSettings(
        replicas=g("prometheusReplicas"),
        anti_affinity=g("prometheusAntiAffinity"),
        retention=g("prometheusRetention"),
        storage_size=g("prometheusStorageSize"),
        resources=resources,
        scrape_interval=g("prometheusScrapeInterval"),
        evaluation_interval=g("prometheusEvaluationInterval"),
    )
    if reader.is_prod and prometheus.replicas < 2:
        reader.problem(f"{PROJECT}:prometheusReplicas = {prometheus.replicas}: prod needs at least 2 replicas for HA. Fix: pulumi config set {PROJECT}:prometheusReplicas 2")
    grafana = GrafanaSettings(
        url=g("grafanaUrl"),
        admin_user=g("grafanaAdminUser"),
        storage_size=g("grafanaStorageSize"),
        admin_password=reader.secret("grafanaAdminPassword", False),
        ingress=_read_ingress(reader),
    )
    alertmanager = AlertmanagerSettings(
        replicas=g("alertmanagerReplicas"),
        retention=g("alertmanagerRetention"),
        storage_size=g("alertmanagerStorageSize"),
    )
    if reader.is_prod and alertmanager.replicas < 3:
        reader.problem(f"{PROJECT}:alertmanagerReplicas = {alertmanager.replicas}: prod needs 3 replicas so notifications survive a node loss. Fix: pulumi config set {PROJECT}:alertmanagerReplicas 3")
    stack = PrometheusStackSettings(
        chart=ChartSettings(version=g("kubePrometheusStackVersion"), repository=g("helmRepository"), location=g("kubePrometheusStackChart")),
        prometheus=prometheus,
        grafana=grafana,
        alertmanager=alertmanager,
        api_server_cidrs=reader.items("kubeApiServerCidrs", cidr, "10.0.0.1/32"),
        profile=reader.profile_name or "dev",
        control_plane_monitoring=g("controlPlaneMonitoring"),
    )
    from components.prometheus_stack import overrides  # the check renders our values: the component module

    return dataclasses.replace(stack, overrides=overrides.read(reader, stack))


def _read_ingress(reader: Reader) -> Optional[GrafanaIngress]:
    class_name, tls_secret = reader.get("grafanaIngressClassName"), reader.get("grafanaIngressTlsSecret")
    url = reader.peek("grafanaUrl")
    if not reader.get("grafanaIngressEnabled"):
        for key, value in (("grafanaIngressClassName", class_name), ("grafanaIngressTlsSecret", tls_secret)):
            if value is not None:
                reader.problem(f"{PROJECT}:{key} = {value!r} is set but grafanaIngressEnabled is false: no Ingress would use it. Fix: pulumi config set {PROJECT}:grafanaIngressEnabled true (or pulumi config rm {PROJECT}:{key})")
        return None
    if url is None:
        return None  # a bad grafanaUrl is reported on its own
    parts = urlsplit(url)
    if tls_secret is not None and parts.scheme != "https":
        reader.problem(
            f"{PROJECT}:grafanaIngressTlsSecret = {tls_secret!r} but {PROJECT}:grafanaUrl = {url!r} is http: alert links would skip the certificate. "
            f"Fix: pulumi config set {PROJECT}:grafanaUrl https://{parts.netloc}{parts.path}"
        )
    return GrafanaIngress(host=parts.hostname or "", path=parts.path or "/", class_name=class_name, tls_secret=tls_secret)
