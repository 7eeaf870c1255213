"""Stack settings: the composition of every domain's settings plus the cross-domain checks.

Each domain declares its keys, defaults, typed dataclass and validation next to its
component (``components/<domain>/settings.py``); the reader and error type are shared
(``core/settings.py``). ``load_settings()`` reads every domain and raises one
``SettingsError`` listing every problem, each naming the key, the bad value and the
``pulumi config`` command that fixes it. ``Pulumi.yaml`` and the README settings table
are generated from ``SETTINGS_SCHEMA`` (``make pulumi-yaml``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi

from components import LAYER_DOMAINS
from components.alerting import settings as alerting
from components.portal import settings as portal
from components.prometheus_stack import settings as prometheus_stack
from components.slo import settings as slo
from components.thanos import settings as thanos
from core.rules import Links
from core.parsers import one_of, parse_bool, parse_dns_label, parse_duration, parse_quantity, pattern, text
from core.settings import PROJECT, Reader, Setting, SettingsError, setting

# Profiles: sizing, strictness and protection. The environment (the label on every series and
# alert) is separate: a `qa` stack may run the staging profile and still say [qa].
PROFILES = ("dev", "staging", "prod")
ENVIRONMENTS = PROFILES  # the stack names that pick their profile by name
ENVIRONMENT_RE = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"

# A stack without a stack file gets the dev profile: these defaults give a small single-replica
# stack with only what a laptop trial needs: nothing that needs outside credentials (Thanos
# bucket, Iceberg catalog and image, Argo CD/Jenkins) or the platform's own namespaces and
# services (Spark's JMX ConfigMaps go into its namespaces; Trino and MinIO are scraped where
# they run). Airflow stays: its statsd_exporter is ours and needs nothing outside. Each is one
# `pulumi config set` away; its clusterName defaults to dataops-<stack>.
DEV_PROFILE = {
    "prometheusReplicas": 1,
    "prometheusAntiAffinity": "none",
    "prometheusRetention": "2d",
    "prometheusStorageSize": "10Gi",
    "prometheusCpuRequest": "250m",
    "prometheusCpuLimit": "1",
    "prometheusMemoryRequest": "1Gi",
    "prometheusMemoryLimit": "2Gi",
    "grafanaStorageSize": "1Gi",
    "alertmanagerReplicas": 1,
    "alertmanagerStorageSize": "1Gi",
    "thanosEnabled": False,
    "icebergExporterEnabled": False,
    "gitopsEnabled": False,
    "sparkEnabled": False,
    "trinoEnabled": False,
    "minioEnabled": False,
}

STACK_SETTINGS = (
    setting("environment", "string", "The environment label on every series and alert ([<environment>] in notifications): lower-case letters, digits and '-', up to 32. Defaults to the stack name.", pattern(ENVIRONMENT_RE, "must be lower-case letters, digits and '-' (up to 32), e.g. qa"), optional=True, example="{stack}"),
    setting("profile", "string", "Sizing, strictness and protection: dev (small footprint, for trials), staging, or prod (required secrets, HA, protection). Defaults to the environment, or the stack name, when it is one of them, else dev.", one_of(*PROFILES), optional=True, example="staging"),
    setting("clusterName", "string", "Cluster name, used as the 'cluster' external label and in alert routing.", parse_dns_label, example="dataops-{stack}"),
    setting("namespace", "string", "Namespace for the monitoring stack.", parse_dns_label, "monitoring"),
    setting("storageClass", "string", "StorageClass for every monitoring volume (Prometheus, Alertmanager, Grafana, Thanos).", parse_dns_label, "longhorn"),
    setting("createNamespace", "boolean", "Create the namespace; false when it already exists (e.g. made by the platform team): the stack then only uses it.", parse_bool, True),
    setting("kubeContext", "string", "kubeconfig context this stack deploys to (explicit provider: never the agent's current context). Every stack names its cluster: this, or kubeconfig, or (local trials only) allowCurrentContext.", text, optional=True, example="<context from kubectl config get-contexts>"),
    setting("allowCurrentContext", "boolean", "Local trials only (not in prod): deploy to kubectl's current context when neither kubeContext nor kubeconfig is set.", parse_bool, False),
    setting("kubeconfig", "string", "A whole kubeconfig for this stack's cluster (instead of the agent's ~/.kube/config).", text, optional=True, secret=True, example="<kubeconfig>"),
    setting("protectResources", "boolean", "Pulumi `protect` on the namespace, the Helm release and the volume-bearing StatefulSets (a rename or a stray destroy fails instead of deleting monitoring data). Defaults to true in prod.", parse_bool, optional=True, example="true"),
)

# The settings module of every platform layer's package (components.LAYER_DOMAINS), in order.
LAYER_SETTINGS = {name: importlib.import_module(f"components.{name}.settings") for name in LAYER_DOMAINS}

# Order is the order of Pulumi.yaml and the README table.
SETTINGS_SCHEMA: tuple[Setting, ...] = (
    STACK_SETTINGS
    + prometheus_stack.SETTINGS
    + alerting.SETTINGS
    + thanos.SETTINGS
    + portal.SETTINGS
    + tuple(setting for module in LAYER_SETTINGS.values() for setting in module.SETTINGS)
    + slo.SETTINGS
)
SCHEMA_BY_KEY = {s.key: s for s in SETTINGS_SCHEMA}

__all__ = ["PROJECT", "SETTINGS_SCHEMA", "SCHEMA_BY_KEY", "SettingsError", "StackSettings", "load_settings", "parse_duration", "parse_quantity"]


@dataclass(frozen=True)
class ClusterSettings:
    """Where this stack deploys: the explicit Kubernetes provider and what it may assume exists."""

    context: Optional[str]
    kubeconfig: Optional[pulumi.Output]
    create_namespace: bool
    protect: bool


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    environment: str
    profile: str
    cluster_name: str
    namespace: str
    storage_class: str
    cluster: ClusterSettings
    prometheus_stack: prometheus_stack.PrometheusStackSettings
    routing: alerting.RoutingSettings
    thanos: thanos.ThanosSettings
    portal: portal.PortalSettings
    slos: tuple[slo.SloSpec, ...]
    # Each platform layer's settings object by layer name (components.LAYER_DOMAINS order);
    # also read as attributes: settings.spark, settings.hive, ...
    domains: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Called only for names that are not fields: the layers' settings.
        domains = self.__dict__.get("domains") or {}
        if name in domains:
            return domains[name]
        raise AttributeError(f"StackSettings has no {name!r}")

    @property
    def chart(self) -> prometheus_stack.ChartSettings:
        return self.prometheus_stack.chart

    @property
    def prometheus(self) -> prometheus_stack.PrometheusSettings:
        return self.prometheus_stack.prometheus

    @property
    def grafana(self) -> prometheus_stack.GrafanaSettings:
        return self.prometheus_stack.grafana

    @property
    def alertmanager(self) -> prometheus_stack.AlertmanagerSettings:
        return self.prometheus_stack.alertmanager

    @property
    def is_prod(self) -> bool:
        return self.profile == "prod"

    @property
    def external_labels(self) -> dict[str, str]:
        return {"cluster": self.cluster_name, "environment": self.environment, "platform": "dataops"}

    @property
    def links(self) -> Links:
        return Links(runbook_base_url=self.routing.runbook_base_url, grafana_url=self.grafana.url)


def load_settings(config: Optional[pulumi.Config] = None) -> StackSettings:
    """Read and validate the whole stack configuration, or raise SettingsError listing every problem."""
    reader = Reader(SETTINGS_SCHEMA, config)
    reader.check_unknown_keys()
    stack = pulumi.get_stack()
    reader.stack = stack
    environment = reader.get("environment")
    if environment is None and reader.raw("environment") is None:  # an invalid value is already reported
        if re.match(ENVIRONMENT_RE, stack):
            environment = stack
        else:
            reader.problem(f"{PROJECT}:environment is not set and the stack name {stack!r} cannot be the label. Fix: pulumi config set {PROJECT}:environment <environment>")
    reader.environment = environment or ""
    profile = reader.get("profile")
    if profile is None and reader.raw("profile") is None:
        profile = next((name for name in (environment, stack) if name in PROFILES), "dev")
    reader.profile_name = profile or ""
    if reader.profile_name == "dev":
        reader.profile = {**DEV_PROFILE, "clusterName": f"dataops-{stack}"}
    stack_settings = prometheus_stack.read(reader)
    values = dict(
        cluster_name=reader.get("clusterName"),
        namespace=reader.get("namespace"),
        storage_class=reader.get("storageClass"),
        cluster=_read_cluster(reader),
        prometheus_stack=stack_settings,
        routing=alerting.read(reader),
        thanos=thanos.read(reader),
        portal=portal.read(reader),
        domains={name: module.read(reader) for name, module in LAYER_SETTINGS.items()},
        slos=slo.read(reader, stack_settings.prometheus.retention),
    )
    if reader.problems:
        raise SettingsError(reader.problems)
    return StackSettings(project=pulumi.get_project(), stack=stack, environment=reader.environment, profile=reader.profile_name, **values)


def _read_cluster(reader: Reader) -> ClusterSettings:
    context, kubeconfig = reader.get("kubeContext"), reader.secret("kubeconfig", False)
    current = bool(reader.get("allowCurrentContext"))
    if current and reader.is_prod:
        reader.problem(f"{PROJECT}:allowCurrentContext is true in a prod-profile stack: prod always names its cluster. Fix: pulumi config rm {PROJECT}:allowCurrentContext")
    if context is None and kubeconfig is None and (reader.is_prod or not current):
        reader.problem(
            f"{PROJECT}:kubeContext is not set: every stack names its cluster instead of deploying to whatever kubectl points at. "
            f"Fix: pulumi config set {PROJECT}:kubeContext <context from kubectl config get-contexts>"
            + ("" if reader.is_prod else f" (or, for a local trial only: pulumi config set {PROJECT}:allowCurrentContext true)")
        )
    protect = reader.get("protectResources")
    return ClusterSettings(
        context=context,
        kubeconfig=kubeconfig,
        create_namespace=bool(reader.get("createNamespace")),
        protect=reader.is_prod if protect is None else bool(protect),
    )
