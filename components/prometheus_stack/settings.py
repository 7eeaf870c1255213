"""Settings of the kube-prometheus-stack release: chart, Prometheus, Grafana, Alertmanager."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import byte_quantity_between, chart_location, parse_bool, duration_between, exact_semver, http_url, int_between, non_empty, one_of, parse_quantity, quantity_between, url, user_name

from core.settings import PROJECT, Reader, setting

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
    # Alertmanager
    setting("alertmanagerReplicas", "integer", "Alertmanager replicas (gossip cluster).", int_between(1, 7), 3),
    setting("alertmanagerRetention", "string", "How long Alertmanager keeps silences and notification state.", duration_between("1h", "1y"), "120h"),
    setting("alertmanagerStorageSize", "string", "Alertmanager volume size.", byte_quantity_between("100Mi", "1Ti"), "5Gi"),
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
class GrafanaSettings:
    url: str
    admin_user: str
    storage_size: str
    admin_password: Optional[pulumi.Output] = None  # None: generated


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
    )
    alertmanager = AlertmanagerSettings(
        replicas=g("alertmanagerReplicas"),
        retention=g("alertmanagerRetention"),
        storage_size=g("alertmanagerStorageSize"),
    )
    if reader.is_prod and alertmanager.replicas < 3:
        reader.problem(f"{PROJECT}:alertmanagerReplicas = {alertmanager.replicas}: prod needs 3 replicas so notifications survive a node loss. Fix: pulumi config set {PROJECT}:alertmanagerReplicas 3")
    return PrometheusStackSettings(
        chart=ChartSettings(version=g("kubePrometheusStackVersion"), repository=g("helmRepository"), location=g("kubePrometheusStackChart")),
        prometheus=prometheus,
        grafana=grafana,
        alertmanager=alertmanager,
        control_plane_monitoring=g("controlPlaneMonitoring"),
    )
