"""Typed, validated stack settings.

This is the only module that reads ``pulumi.Config``. It turns the stack's
configuration into frozen dataclasses and validates all of it before any resource
is created: every problem is collected and reported at once, each naming the
config key, the bad value and the ``pulumi config set`` command that fixes it.

``SETTINGS_SCHEMA`` is the single source of truth for keys, types, defaults and
descriptions; ``Pulumi.yaml``'s ``config:`` block is generated from it
(``make pulumi-yaml``) and a test keeps the two in sync.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import config as runtime_config

PROJECT = "dataops-monitoring"
ENVIRONMENTS = ("staging", "prod")

# --------------------------------------------------------------------------------------
# Value parsers. Each returns the parsed value or raises ValueError with a short reason.
# --------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(text: str) -> float:
    """Prometheus duration (``15d``, ``1h30m``, ``30s``) to seconds."""
    match = _DURATION_RE.match(text or "")
    if not text or not match or not any(match.groups()):
        raise ValueError("not a duration (use Prometheus units, e.g. 30s, 5m, 12h, 15d, 1y)")
    seconds = sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS) if g)
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    return seconds


_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def parse_quantity(text: str) -> float:
    """Kubernetes resource quantity (``2000m``, ``2``, ``8Gi``, ``50G``) to a number."""
    match = _QUANTITY_RE.match(text or "")
    if not match:
        raise ValueError("not a Kubernetes quantity (e.g. 500m or 2 for CPU, 8Gi or 512Mi for memory)")
    value = float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]
    if value <= 0:
        raise ValueError("quantity must be greater than zero")
    return value


def parse_byte_quantity(text: str) -> float:
    """A quantity of bytes: a milli suffix (``50m``) is almost always a typo for ``50Mi``."""
    value = parse_quantity(text)
    if text.endswith("m"):
        raise ValueError("'m' means milli-bytes here; use Mi or Gi (e.g. 512Mi, 50Gi)")
    return value


_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def parse_dns_label(text: str) -> str:
    if not _DNS_LABEL_RE.match(text or "") or len(text) > 63:
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters")
    return text


def parse_ratio(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("not a number") from None
    if not 0 < value < 1:
        raise ValueError("must be a ratio strictly between 0 and 1 (e.g. 0.999)")
    return value


def parse_int(text: Any, minimum: int = 0) -> int:
    if isinstance(text, bool):
        raise ValueError("not an integer")
    try:
        value = int(str(text), 10)
    except ValueError:
        raise ValueError("not an integer") from None
    if value < minimum:
        raise ValueError(f"must be at least {minimum}")
    return value


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("true", "false"):
        return str(text).lower() == "true"
    raise ValueError("not a boolean (true or false)")


def parse_string_list(text: Any) -> tuple[str, ...]:
    value = json.loads(text) if isinstance(text, str) else text
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be a list of non-empty strings")
    return tuple(value)


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError("must be one of " + ", ".join(repr(c) for c in choices))
        return text

    return parse


def _semver_at_least(major: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        match = re.match(r"^(\d+)\.(\d+)\.(\d+)$", text or "")
        if not match:
            raise ValueError("must be an exact chart version like 88.5.3 (no ranges: previews must be reproducible)")
        if int(match.group(1)) < major:
            raise ValueError(f"must be {major}.0.0 or newer")
        return text

    return parse


def _image_ref(text: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9._/-]*(:[0-9][A-Za-z0-9._-]*|:v[0-9][A-Za-z0-9._-]*|@sha256:[a-f0-9]{64})$", text or ""):
        raise ValueError("must be an image reference pinned to a version tag or digest (e.g. quay.io/thanos/thanos:v0.42.4)")
    return text


def _keep_text(parse: Callable[[str], Any]) -> Callable[[Any], str]:
    """Validate with ``parse`` but keep the user's spelling (``15d`` stays ``15d`` in values)."""

    def validate(text: Any) -> str:
        if not isinstance(text, str):
            raise ValueError("must be a string")
        parse(text)
        return text

    return validate


_duration = _keep_text(parse_duration)
_quantity = _keep_text(parse_quantity)
_bytes = _keep_text(parse_byte_quantity)


def _http_url(text: Any) -> str:
    if not isinstance(text, str) or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", text) or text.endswith("/"):
        raise ValueError("must be an http(s) URL without a trailing slash (e.g. https://grafana.example.com)")
    return text


def _text(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError("must be a string")
    return text


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One config key: how it is typed in Pulumi.yaml, parsed and documented."""

    key: str
    pulumi_type: str  # string | integer | boolean | array | object (object: not declarable in Pulumi.yaml)
    description: str
    parse: Callable[[Any], Any] = _text
    default: Any = None  # None: required (or optional when ``optional``)
    example: str = ""  # value shown in the fix command
    optional: bool = False
    secret: bool = False


def _s(key, pulumi_type, description, parse=_text, default=None, example="", optional=False, secret=False):
    return Setting(key, pulumi_type, description, parse, default, example or (str(default) if default not in (None, "") else ""), optional, secret)


SETTINGS_SCHEMA: tuple[Setting, ...] = (
    # Stack identity
    _s("environment", "string", "Which environment this stack is: staging or prod. Prod enforces secrets and HA.", _one_of(*ENVIRONMENTS), example="prod"),
    _s("clusterName", "string", "Cluster name, used as the 'cluster' external label and in alert routing.", parse_dns_label, example="dataops-prod"),
    _s("namespace", "string", "Namespace for the monitoring stack.", parse_dns_label, "monitoring"),
    _s("storageClass", "string", "StorageClass for every monitoring volume (Prometheus, Alertmanager, Grafana, Thanos).", parse_dns_label, "longhorn"),
    _s("kubePrometheusStackVersion", "string", "Exact kube-prometheus-stack chart version (55 or newer).", _semver_at_least(55), "88.5.3"),
    _s("helmRepository", "string", "Helm repository of kube-prometheus-stack.", _text, "https://prometheus-community.github.io/helm-charts"),
    # Prometheus (prod defaults are the guide's values)
    _s("prometheusReplicas", "integer", "Prometheus replicas (HA pairs deduplicated by Thanos Query).", lambda v: parse_int(v, 1), 2),
    _s("prometheusAntiAffinity", "string", "Pod anti-affinity between Prometheus replicas: hard, soft or none.", _one_of("hard", "soft", "none"), "hard"),
    _s("prometheusRetention", "string", "Local retention of raw samples in Prometheus (older data lives in Thanos).", _duration, "15d"),
    _s("prometheusStorageSize", "string", "Prometheus volume size per replica.", _bytes, "50Gi"),
    _s("prometheusCpuRequest", "string", "Prometheus CPU request.", _quantity, "2000m"),
    _s("prometheusCpuLimit", "string", "Prometheus CPU limit.", _quantity, "4000m"),
    _s("prometheusMemoryRequest", "string", "Prometheus memory request.", _bytes, "8Gi"),
    _s("prometheusMemoryLimit", "string", "Prometheus memory limit.", _bytes, "16Gi"),
    _s("prometheusScrapeInterval", "string", "Default scrape interval (enters the MTTD budget).", _duration, "30s"),
    _s("prometheusEvaluationInterval", "string", "Default rule evaluation interval (enters the MTTD budget).", _duration, "30s"),
    # Grafana
    _s("grafanaUrl", "string", "External URL of Grafana: alert notifications link dashboards under it; Grafana's root_url.", _http_url, "https://grafana.dataops.internal"),
    _s("grafanaAdminUser", "string", "Grafana admin user name; the password is generated and exported as a secret.", _text, "admin"),
    _s("grafanaStorageSize", "string", "Grafana volume size.", _bytes, "10Gi"),
    # Alertmanager
    _s("alertmanagerReplicas", "integer", "Alertmanager replicas (gossip cluster).", lambda v: parse_int(v, 1), 3),
    _s("alertmanagerRetention", "string", "How long Alertmanager keeps silences and notification state.", _duration, "120h"),
    _s("alertmanagerStorageSize", "string", "Alertmanager volume size.", _bytes, "5Gi"),
    _s("alertGroupWait", "string", "Alertmanager group_wait: delay before the first notification of a group (enters MTTD).", _duration, "30s"),
    _s("alertGroupInterval", "string", "Alertmanager group_interval.", _duration, "5m"),
    _s("alertRepeatInterval", "string", "Alertmanager repeat_interval.", _duration, "4h"),
    _s("alertSlackChannelHigh", "string", "Slack channel for severity=high.", _text, "#dataops-ops"),
    _s("alertSlackChannelMedium", "string", "Slack channel for severity=medium (lower noise).", _text, "#dataops-alerts"),
    _s("pagerdutyRoutingKey", "string", "PagerDuty Events API v2 routing key for severity=critical. Required in prod.", _text, optional=True, secret=True, example="<routing-key>"),
    _s("slackWebhookUrl", "string", "Slack incoming webhook URL for high/medium alerts. Required in prod.", _text, optional=True, secret=True, example="<webhook-url>"),
    # Thanos
    _s("thanosEnabled", "boolean", "Deploy Thanos (sidecar upload, Query, Store Gateway, Compactor).", parse_bool, True),
    _s("thanosImage", "string", "Thanos image for every Thanos component.", _image_ref, "quay.io/thanos/thanos:v0.42.4"),
    _s("thanosBucket", "string", "Object storage bucket for Thanos blocks. Required when Thanos is enabled.", _text, optional=True, example="dataops-thanos"),
    _s("thanosEndpoint", "string", "S3 endpoint host[:port] (AWS S3, MinIO or Ceph RGW). Required when Thanos is enabled.", _text, optional=True, example="minio.storage.svc:9000"),
    _s("thanosRegion", "string", "S3 region.", _text, "us-east-1"),
    _s("thanosInsecure", "boolean", "Use plain HTTP to the S3 endpoint (in-cluster MinIO without TLS).", parse_bool, False),
    _s("thanosRetentionRaw", "string", "Compactor retention of raw blocks.", _duration, "15d"),
    _s("thanosRetention5m", "string", "Compactor retention of 5m-downsampled blocks.", _duration, "90d"),
    _s("thanosRetention1h", "string", "Compactor retention of 1h-downsampled blocks.", _duration, "1y"),
    _s("thanosQueryReplicas", "integer", "Thanos Query replicas.", lambda v: parse_int(v, 1), 2),
    _s("thanosStoreEndpoints", "array", "Extra gRPC store endpoints (other clusters' Query or sidecars) for the global view.", parse_string_list, (), example='["thanos-query.other-cluster:10901"]'),
    _s("thanosReceiveEnabled", "boolean", "Deploy Thanos Receive and remote-write Prometheus to it.", parse_bool, False),
    _s("thanosStoreStorageSize", "string", "Store Gateway cache volume size.", _bytes, "20Gi"),
    _s("thanosCompactStorageSize", "string", "Compactor work volume size.", _bytes, "100Gi"),
    _s("thanosAccessKey", "string", "S3 access key for Thanos. Required when Thanos is enabled.", _text, optional=True, secret=True, example="<access-key>"),
    _s("thanosSecretKey", "string", "S3 secret key for Thanos. Required when Thanos is enabled.", _text, optional=True, secret=True, example="<secret-key>"),
    # Workloads
    _s("sparkNamespaces", "array", "Namespaces where Spark drivers and executors run.", parse_string_list, ("spark-jobs", "data-processing"), example='["spark-jobs","data-processing"]'),
    _s("sparkOperatorNamespace", "string", "Namespace of the kubeflow spark-operator controller.", parse_dns_label, "spark-operator"),
    _s("statsdExporterImage", "string", "prometheus statsd_exporter image that receives Airflow's statsd metrics.", _image_ref, "prom/statsd-exporter:v0.28.0"),
    _s("trinoNamespace", "string", "Namespace where Trino runs.", parse_dns_label, "trino"),
    _s("trinoUser", "string", "User name Prometheus presents to Trino's /metrics.", _text, "prometheus"),
    _s("trinoPassword", "string", "Password for Trino basic auth, when Trino requires one.", _text, optional=True, secret=True, example="<password>"),
    _s("minioNamespace", "string", "Namespace of the MinIO tenant serving S3 (cluster metrics v2 are scraped there).", parse_dns_label, "minio"),
    _s("minioPrometheusToken", "string", "Bearer token for MinIO's metrics (mc admin prometheus generate); omit when MINIO_PROMETHEUS_AUTH_TYPE=public.", _text, optional=True, secret=True, example="<jwt>"),
    # GitOps layer (Bitbucket -> Jenkins -> Argo CD)
    _s("gitopsEnabled", "boolean", "Scrape Argo CD and Jenkins and load the GitOps recording rules and alerts.", parse_bool, True),
    _s("argocdNamespace", "string", "Namespace where Argo CD runs (application controller, API server, repo server).", parse_dns_label, "argocd"),
    _s("jenkinsNamespace", "string", "Namespace where the Jenkins controller runs (Prometheus metrics plugin at /prometheus).", parse_dns_label, "jenkins"),
    _s("portalUrls", "array", "User-facing Portal URLs probed over HTTP by blackbox_exporter (the guide's user layer).", parse_string_list, (), example='["https://portal.dataops.example.com/healthz"]'),
    _s("blackboxExporterImage", "string", "blackbox_exporter image that probes the Portal.", _image_ref, "quay.io/prometheus/blackbox-exporter:v0.28.0"),
    # Iceberg exporter
    _s("icebergExporterEnabled", "boolean", "Deploy the Iceberg table-metrics exporter.", parse_bool, True),
    _s("icebergExporterImage", "string", "Image built from exporters/iceberg/Dockerfile.", _image_ref, "dataops/iceberg-exporter:0.1.0"),
    _s("icebergCatalogType", "string", "Iceberg catalog type: hive, rest or sql.", _one_of("hive", "rest", "sql"), "hive"),
    _s("icebergCatalogUri", "string", "Iceberg catalog URI.", _text, "thrift://hive-metastore:9083"),
    _s("icebergWarehouse", "string", "Warehouse location (for catalogs that need it).", _text, optional=True, example="s3://warehouse/"),
    _s("icebergInterval", "string", "How often the exporter collects table metrics.", _duration, "5m"),
    _s("icebergSmallFileBytes", "integer", "Data files smaller than this count as small files.", lambda v: parse_int(v, 1), 33554432),
    _s("icebergS3Endpoint", "string", "S3 endpoint the exporter uses to read table metadata.", _text, optional=True, example="http://minio.storage.svc:9000"),
    _s("icebergS3AccessKey", "string", "S3 access key for the Iceberg exporter.", _text, optional=True, secret=True, example="<access-key>"),
    _s("icebergS3SecretKey", "string", "S3 secret key for the Iceberg exporter.", _text, optional=True, secret=True, example="<secret-key>"),
    # SLOs
    _s("sloFreshnessTables", "array", "Iceberg tables (database.table) with a data-freshness SLO.", parse_string_list, (), example='["sales.orders"]'),
    _s("sloFreshnessMaxAge", "string", "A table is fresh while its last snapshot is younger than this.", _duration, "6h"),
    _s("slos", "object", "SLO list (name, objective, window, and errorRatio or good/total PromQL with ${window}). Defaults to availability 99.9%, pipeline latency and data freshness.", lambda v: v, None, optional=True, example='[{"name":"availability","objective":0.999,...}]'),
)

SCHEMA_BY_KEY = {s.key: s for s in SETTINGS_SCHEMA}


# --------------------------------------------------------------------------------------
# Typed settings
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class AlertmanagerSettings:
    replicas: int
    retention: str
    storage_size: str


@dataclass(frozen=True)
class BucketSettings:
    bucket: str
    endpoint: str
    region: str
    insecure: bool
    access_key: pulumi.Output
    secret_key: pulumi.Output


@dataclass(frozen=True)
class ThanosSettings:
    enabled: bool
    image: str
    bucket: Optional[BucketSettings]
    retention_raw: str
    retention_5m: str
    retention_1h: str
    query_replicas: int
    store_endpoints: tuple[str, ...]
    receive_enabled: bool
    store_storage_size: str
    compact_storage_size: str


@dataclass(frozen=True)
class RoutingSettings:
    group_wait: str
    group_interval: str
    repeat_interval: str
    slack_channel_high: str
    slack_channel_medium: str
    grafana_url: str  # alert links are dashboard paths under it
    pagerduty_routing_key: Optional[pulumi.Output]
    slack_webhook_url: Optional[pulumi.Output]


@dataclass(frozen=True)
class WorkloadSettings:
    spark_namespaces: tuple[str, ...]
    spark_operator_namespace: str
    statsd_exporter_image: str
    trino_namespace: str
    trino_user: str
    trino_password: Optional[pulumi.Output]
    minio_namespace: str
    minio_token: Optional[pulumi.Output]
    portal_urls: tuple[str, ...]
    blackbox_exporter_image: str


@dataclass(frozen=True)
class GitOpsSettings:
    enabled: bool
    argocd_namespace: str
    jenkins_namespace: str


@dataclass(frozen=True)
class IcebergSettings:
    enabled: bool
    image: str
    catalog_type: str
    catalog_uri: str
    warehouse: Optional[str]
    interval: str
    small_file_bytes: int
    s3_endpoint: Optional[str]
    s3_access_key: Optional[pulumi.Output]
    s3_secret_key: Optional[pulumi.Output]


@dataclass(frozen=True)
class SloSpec:
    """One SLO. Expressions contain ``${window}``, replaced by each burn-rate window."""

    name: str
    objective: float
    window: str
    description: str
    error_ratio: Optional[str] = None
    good: Optional[str] = None
    total: Optional[str] = None

    def error_ratio_expr(self, window: str) -> str:
        """PromQL for the ratio of bad events over ``window``; ``${step}`` becomes ``subquery_step(window)``."""
        expr = self.error_ratio if self.error_ratio is not None else f"1 - (({self.good}) / ({self.total}))"
        return expr.replace("${window}", window).replace("${step}", subquery_step(window))


def subquery_step(window: str, points: int = 720) -> str:
    """A subquery step giving at most ``points`` steps over ``window`` (at least 1m, whole minutes).

    Every step of a subquery materializes each literal and function result: a 30d window at
    1m is 43200 samples per term (promtool's unit tests stop at 10000 per query).
    """
    minutes = max(1, -(-int(parse_duration(window)) // (60 * points)))
    return f"{minutes}m"


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    environment: str
    cluster_name: str
    namespace: str
    storage_class: str
    chart_version: str
    helm_repository: str
    prometheus: PrometheusSettings
    grafana: GrafanaSettings
    alertmanager: AlertmanagerSettings
    routing: RoutingSettings
    thanos: ThanosSettings
    workloads: WorkloadSettings
    iceberg: IcebergSettings
    slos: tuple[SloSpec, ...]
    gitops: GitOpsSettings = GitOpsSettings(enabled=True, argocd_namespace="argocd", jenkins_namespace="jenkins")

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def external_labels(self) -> dict[str, str]:
        return {"cluster": self.cluster_name, "environment": self.environment, "platform": "dataops"}


# --------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------


class SettingsError(pulumi.RunError):
    """Every configuration problem at once; RunError makes Pulumi print it without a stack trace."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = [f"Invalid stack configuration ({len(problems)} {noun}):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def _fix(setting: Setting, value: str = "") -> str:
    value = value or setting.example or "<value>"
    flag = "--secret " if setting.secret else ""
    quoted = f"'{value}'" if any(c in value for c in " []{}\"$#*") else value
    return f"pulumi config set {flag}{PROJECT}:{setting.key} {quoted}"


DEFAULT_SLOS: tuple[dict, ...] = (
    {
        "name": "platform-availability",
        "objective": 0.999,
        "window": "30d",
        "description": "Platform scrape targets (Spark operator, Airflow, Trino, Iceberg, MinIO) are up.",
        "errorRatio": "1 - avg_over_time(dataops:platform:availability[${window}])",
    },
    {
        "name": "pipeline-latency",
        "objective": 0.95,
        "window": "30d",
        "description": "DAG runs finish within one hour (P95 DAG run duration under 1h).",
        # Successful runs only, on both sides (a run that fails fast is not "on time"; failures
        # belong to a success-rate SLO). le="3600" must be a bucket of the statsd mapping.
        "good": 'sum(increase(airflow_dagrun_duration_bucket{status="success",le="3600"}[${window}]))',
        "total": 'sum(increase(airflow_dagrun_duration_count{status="success"}[${window}]))',
    },
)


def _freshness_slo(tables: tuple[str, ...], max_age_s: float) -> dict:
    """Share of (table, minute) pairs whose last snapshot is older than ``max_age_s``.

    Each table is selected exactly (a regex per label would also match the cross product,
    e.g. marketing.orders). A listed table with no series while the exporter reports others
    (table dropped, never committed, failing) counts as stale instead of leaving the average.
    """
    pairs = [t.split(".", 1) for t in tables]
    # Age = sample time - commit time: timestamp() instead of time(), which a subquery would
    # materialize at every step even where no table exists.
    fresh = " or ".join(
        f'(max by (database, table) (timestamp({sel}) - {sel}) < bool {int(max_age_s)})'
        for sel in (f'iceberg_table_last_update_timestamp{{database="{db}",table="{table}"}}' for db, table in pairs)
    )
    # 0 for each listed table, but only at instants where the exporter reports some table:
    # before the exporter existed is "no data", not "stale" (and no vector(0) is built for
    # every step of a 30d subquery).
    missing = " or ".join(
        f'label_replace(label_replace(0 * group(iceberg_table_last_update_timestamp), "database", "{db}", "", ""), "table", "{table}", "", "")'
        for db, table in pairs
    )
    return {
        "name": "data-freshness",
        "objective": 0.99,
        "window": "30d",
        "description": "Listed Iceberg tables received a snapshot within the freshness limit.",
        "errorRatio": f"1 - avg(avg_over_time(({fresh} or {missing})[${{window}}:${{step}}]))",
    }


class _Reader:
    """Reads raw values and collects problems instead of raising."""

    def __init__(self, config: pulumi.Config):
        self.config = config
        self.problems: list[str] = []

    def raw(self, key: str) -> Any:
        value = runtime_config.get_config(f"{PROJECT}:{key}")
        # The CLI passes Pulumi.yaml's declared defaults; "" is how an optional key is declared unset.
        if value == "" and SCHEMA_BY_KEY[key].optional:
            return None
        return value

    def get(self, key: str) -> Any:
        setting = SCHEMA_BY_KEY[key]
        raw = self.raw(key)
        if raw is None:
            if setting.default is None and not setting.optional:
                self.problems.append(f"{PROJECT}:{key} is not set: {setting.description} Fix: {_fix(setting)}")
            return setting.default if setting.default is not None else None
        if setting.pulumi_type in ("array", "object") and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                self.problems.append(f"{PROJECT}:{key} = {raw!r}: not valid JSON for a {setting.pulumi_type}. Fix: {_fix(setting)}")
                return setting.default
        try:
            return setting.parse(raw)
        except ValueError as err:
            self.problems.append(f"{PROJECT}:{key} = {raw!r}: {err}. Fix: {_fix(setting)}")
            return setting.default

    def text(self, key: str) -> str:
        raw = self.raw(key)
        return str(raw if raw is not None else SCHEMA_BY_KEY[key].default)

    def parsed_or_none(self, key: str) -> Optional[float]:
        """Seconds of a duration setting, or None when it is invalid (already reported)."""
        try:
            return parse_duration(self.text(key))
        except ValueError:
            return None

    def secret(self, key: str, required: bool, why: str = "") -> Optional[pulumi.Output]:
        setting = SCHEMA_BY_KEY[key]
        full = f"{PROJECT}:{key}"
        if self.raw(key) is None:
            if required:
                self.problems.append(f"{full} is not set ({why}): {setting.description} Fix: {_fix(setting)}")
            return None
        if not runtime_config.is_config_secret(full):
            # Never echo the value: it is a credential stored in plain text.
            self.problems.append(f"{full} is stored in plain text. Fix: pulumi config rm {full} && {_fix(setting)}")
        return self.config.get_secret(key)


def _check_unknown_keys(reader: _Reader) -> None:
    known = set(SCHEMA_BY_KEY)
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    for full in sorted(keys):
        if not full.startswith(PROJECT + ":"):
            continue
        key = full.split(":", 1)[1]
        if key in known:
            continue
        guess = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {PROJECT}:{guess[0]}?" if guess else ""
        reader.problems.append(f"{full} is not a known setting.{hint} Fix: pulumi config rm {full}")


def _parse_slos(reader: _Reader, raw: Any, freshness: tuple[str, ...], max_age_s: float) -> tuple[SloSpec, ...]:
    if raw is None:
        items = list(DEFAULT_SLOS)
        if freshness:
            items.append(_freshness_slo(freshness, max_age_s))
    else:
        items = raw
    key = f"{PROJECT}:slos"
    if not isinstance(items, list):
        reader.problems.append(f"{key} must be a list of SLO objects. Fix: edit Pulumi.<stack>.yaml (see README, SLOs)")
        return ()
    slos: list[SloSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            reader.problems.append(f"{where} = {item!r}: must be an object. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' <name>")
            continue
        unknown = set(item) - {"name", "objective", "window", "description", "errorRatio", "good", "total"}
        for extra in sorted(unknown):
            reader.problems.append(f"{where}.{extra} is not a known SLO field. Fix: pulumi config rm --path '{PROJECT}:slos[{index}].{extra}'")
        name = item.get("name", "")
        if not isinstance(name, str) or not _DNS_LABEL_RE.match(name):
            reader.problems.append(f"{where}.name = {name!r}: must be a lower-case slug like platform-availability. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' platform-availability")
        elif name in seen:
            reader.problems.append(f"{where}.name = {name!r}: duplicate SLO name. Fix: pulumi config set --path '{PROJECT}:slos[{index}].name' <unique-name>")
        seen.add(name)
        try:
            objective = parse_ratio(item.get("objective"))
        except ValueError as err:
            reader.problems.append(f"{where}.objective = {item.get('objective')!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].objective' 0.999")
            objective = 0.999
        window = item.get("window", "30d")
        try:
            parse_duration(window)
        except ValueError as err:
            reader.problems.append(f"{where}.window = {window!r}: {err}. Fix: pulumi config set --path '{PROJECT}:slos[{index}].window' 30d")
        has_ratio = "errorRatio" in item
        has_pair = "good" in item and "total" in item
        if has_ratio == has_pair:
            reader.problems.append(f"{where}: give either errorRatio, or both good and total. Fix: pulumi config set --path '{PROJECT}:slos[{index}].errorRatio' '<PromQL with ${{window}}>'")
        for field_name in ("errorRatio", "good", "total"):
            expr = item.get(field_name)
            if expr is not None and (not isinstance(expr, str) or "${window}" not in expr):
                reader.problems.append(f"{where}.{field_name} = {expr!r}: must be PromQL containing ${{window}} (each burn-rate window is substituted). Fix: pulumi config set --path '{PROJECT}:slos[{index}].{field_name}' '<PromQL with [${{window}}]>'")
        slos.append(
            SloSpec(
                name=str(name),
                objective=objective,
                window=str(window),
                description=str(item.get("description", "")),
                error_ratio=item.get("errorRatio"),
                good=item.get("good"),
                total=item.get("total"),
            )
        )
    return tuple(slos)


def load_settings(config: Optional[pulumi.Config] = None) -> StackSettings:
    """Read and validate the whole stack configuration, or raise SettingsError listing every problem."""
    config = config or pulumi.Config(PROJECT)
    reader = _Reader(config)
    _check_unknown_keys(reader)
    g = reader.get
    environment = g("environment")
    prod = environment == "prod"

    resources = Resources(
        cpu_request=g("prometheusCpuRequest"),
        cpu_limit=g("prometheusCpuLimit"),
        memory_request=g("prometheusMemoryRequest"),
        memory_limit=g("prometheusMemoryLimit"),
    )
    for kind, request, limit in (
        ("Cpu", resources.cpu_request, resources.cpu_limit),
        ("Memory", resources.memory_request, resources.memory_limit),
    ):
        if parse_quantity(request) > parse_quantity(limit):
            reader.problems.append(
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
    if prod and prometheus.replicas < 2:
        reader.problems.append(f"{PROJECT}:prometheusReplicas = {prometheus.replicas}: prod needs at least 2 replicas for HA. Fix: pulumi config set {PROJECT}:prometheusReplicas 2")

    grafana_url = g("grafanaUrl")
    grafana = GrafanaSettings(url=grafana_url, admin_user=g("grafanaAdminUser"), storage_size=g("grafanaStorageSize"))
    alertmanager = AlertmanagerSettings(
        replicas=g("alertmanagerReplicas"),
        retention=g("alertmanagerRetention"),
        storage_size=g("alertmanagerStorageSize"),
    )
    if prod and alertmanager.replicas < 3:
        reader.problems.append(f"{PROJECT}:alertmanagerReplicas = {alertmanager.replicas}: prod needs 3 replicas so notifications survive a node loss. Fix: pulumi config set {PROJECT}:alertmanagerReplicas 3")
    routing = RoutingSettings(
        group_wait=g("alertGroupWait"),
        group_interval=g("alertGroupInterval"),
        repeat_interval=g("alertRepeatInterval"),
        slack_channel_high=g("alertSlackChannelHigh"),
        slack_channel_medium=g("alertSlackChannelMedium"),
        grafana_url=grafana_url,
        pagerduty_routing_key=reader.secret("pagerdutyRoutingKey", prod, "prod pages the on-call through PagerDuty"),
        slack_webhook_url=reader.secret("slackWebhookUrl", prod, "prod sends high and medium alerts to Slack"),
    )

    thanos_enabled = bool(g("thanosEnabled"))
    bucket_name, endpoint = g("thanosBucket"), g("thanosEndpoint")
    if thanos_enabled:
        for key, value in (("thanosBucket", bucket_name), ("thanosEndpoint", endpoint)):
            if not value:
                reader.problems.append(f"{PROJECT}:{key} is not set (Thanos is enabled): {SCHEMA_BY_KEY[key].description} Fix: {_fix(SCHEMA_BY_KEY[key])}")
    access_key = reader.secret("thanosAccessKey", thanos_enabled, "Thanos is enabled")
    secret_key = reader.secret("thanosSecretKey", thanos_enabled, "Thanos is enabled")
    region, insecure = g("thanosRegion"), g("thanosInsecure")
    bucket = None
    if thanos_enabled and bucket_name and endpoint and access_key is not None and secret_key is not None:
        bucket = BucketSettings(bucket_name, endpoint, region, insecure, access_key, secret_key)
    thanos = ThanosSettings(
        enabled=thanos_enabled,
        image=g("thanosImage"),
        bucket=bucket,
        retention_raw=g("thanosRetentionRaw"),
        retention_5m=g("thanosRetention5m"),
        retention_1h=g("thanosRetention1h"),
        query_replicas=g("thanosQueryReplicas"),
        store_endpoints=tuple(g("thanosStoreEndpoints")),
        receive_enabled=bool(g("thanosReceiveEnabled")),
        store_storage_size=g("thanosStoreStorageSize"),
        compact_storage_size=g("thanosCompactStorageSize"),
    )
    # Downsampled blocks are built from raw ones: keeping them for less time than raw is always a mistake.
    for shorter, longer, fix in (("thanosRetention5m", "thanosRetentionRaw", "90d"), ("thanosRetention1h", "thanosRetention5m", "1y")):
        short_value, long_value = reader.parsed_or_none(shorter), reader.parsed_or_none(longer)
        if short_value is not None and long_value is not None and short_value < long_value:
            reader.problems.append(
                f"{PROJECT}:{shorter} = {reader.text(shorter)!r} is shorter than {PROJECT}:{longer} = {reader.text(longer)!r}. Fix: pulumi config set {PROJECT}:{shorter} {fix}"
            )
    if thanos.receive_enabled and not thanos.enabled:
        reader.problems.append(f"{PROJECT}:thanosReceiveEnabled is true but thanosEnabled is false. Fix: pulumi config set {PROJECT}:thanosEnabled true")
    if prod and thanos.enabled and thanos.query_replicas < 2:
        reader.problems.append(f"{PROJECT}:thanosQueryReplicas = {thanos.query_replicas}: prod needs 2 so Grafana keeps a query path during a rollout. Fix: pulumi config set {PROJECT}:thanosQueryReplicas 2")
    if endpoint and "://" in endpoint:
        # Thanos' S3 client takes host[:port]; the scheme comes from thanosInsecure.
        reader.problems.append(f"{PROJECT}:thanosEndpoint = {endpoint!r}: give host[:port] without a scheme (http/https follows thanosInsecure). Fix: pulumi config set {PROJECT}:thanosEndpoint {endpoint.split('://', 1)[1].rstrip('/')}")

    spark_namespaces = tuple(g("sparkNamespaces"))
    for ns in spark_namespaces:
        try:
            parse_dns_label(ns)
        except ValueError as err:
            reader.problems.append(f"{PROJECT}:sparkNamespaces contains {ns!r}: {err}. Fix: pulumi config set {PROJECT}:sparkNamespaces '[\"spark-jobs\"]'")
    workloads = WorkloadSettings(
        spark_namespaces=spark_namespaces,
        spark_operator_namespace=g("sparkOperatorNamespace"),
        statsd_exporter_image=g("statsdExporterImage"),
        trino_namespace=g("trinoNamespace"),
        trino_user=g("trinoUser"),
        trino_password=reader.secret("trinoPassword", False),
        minio_namespace=g("minioNamespace"),
        minio_token=reader.secret("minioPrometheusToken", False),
        portal_urls=tuple(g("portalUrls")),
        blackbox_exporter_image=g("blackboxExporterImage"),
    )

    if prod and not workloads.portal_urls:
        reader.problems.append(
            f"{PROJECT}:portalUrls is empty: prod must probe the user-facing Portal (the user layer). "
            f"Fix: pulumi config set {PROJECT}:portalUrls '[\"https://portal.dataops.internal/healthz\"]'"
        )

    gitops = GitOpsSettings(
        enabled=bool(g("gitopsEnabled")),
        argocd_namespace=g("argocdNamespace"),
        jenkins_namespace=g("jenkinsNamespace"),
    )

    iceberg = IcebergSettings(
        enabled=bool(g("icebergExporterEnabled")),
        image=g("icebergExporterImage"),
        catalog_type=g("icebergCatalogType"),
        catalog_uri=g("icebergCatalogUri"),
        warehouse=g("icebergWarehouse"),
        interval=g("icebergInterval"),
        small_file_bytes=g("icebergSmallFileBytes"),
        s3_endpoint=g("icebergS3Endpoint"),
        s3_access_key=reader.secret("icebergS3AccessKey", False),
        s3_secret_key=reader.secret("icebergS3SecretKey", False),
    )

    freshness_tables = tuple(g("sloFreshnessTables"))
    for table in freshness_tables:
        if not re.match(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$", table):
            reader.problems.append(f"{PROJECT}:sloFreshnessTables contains {table!r}: must be database.table. Fix: pulumi config set {PROJECT}:sloFreshnessTables '[\"sales.orders\"]'")
    g("sloFreshnessMaxAge")  # validated here; its seconds go into the freshness SLO
    max_age_s = reader.parsed_or_none("sloFreshnessMaxAge") or 6 * 3600
    slos = _parse_slos(reader, g("slos"), freshness_tables, max_age_s)
    retention_s = reader.parsed_or_none("prometheusRetention")
    for slo in slos:
        try:
            window_s = parse_duration(slo.window)
        except ValueError:
            continue  # reported by _parse_slos
        if retention_s is not None and window_s > retention_s:
            # Not an error: rules see only Prometheus' local data, so say what the numbers mean.
            pulumi.log.warn(
                f"SLO {slo.name}: window {slo.window} is longer than {PROJECT}:prometheusRetention "
                f"{prometheus.retention}; its error budget is computed over the last {prometheus.retention} only."
            )

    cluster_name, namespace = g("clusterName"), g("namespace")
    storage_class, chart_version, helm_repository = g("storageClass"), g("kubePrometheusStackVersion"), g("helmRepository")
    if reader.problems:
        raise SettingsError(reader.problems)

    return StackSettings(
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        environment=environment,
        cluster_name=cluster_name,
        namespace=namespace,
        storage_class=storage_class,
        chart_version=chart_version,
        helm_repository=helm_repository,
        prometheus=prometheus,
        grafana=grafana,
        alertmanager=alertmanager,
        routing=routing,
        thanos=thanos,
        workloads=workloads,
        iceberg=iceberg,
        slos=slos,
        gitops=gitops,
    )

