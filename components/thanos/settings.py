"""Settings of Thanos: image, object storage bucket, retention per resolution, Query and Receive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi

from core.parsers import byte_quantity_between, cidr, duration_between, host_port, image_ref, int_between, parse_bool, parse_quantity, parse_string_list, pattern, quantity_between, s3_bucket, s3_region, text

from core.settings import PROJECT, Reader, setting

def _endpoint(value: str) -> str:
    if isinstance(value, str) and "://" in value:
        return value  # reported by read() with the host[:port] to set instead
    return host_port(example="minio.storage.svc:9000")(value)


# Thanos Query's --endpoint.sd-config addresses: host:port, or dns+/dnssrv+ lookups.
_STORE_ENDPOINT = host_port(require_port=True, example="thanos-query.other-cluster:10901")


def _store_endpoint(value: str) -> str:
    if isinstance(value, str) and value.startswith(("dnssrv+", "dnssrvnoa+")):
        # An SRV name (_service._proto.host): the port comes from the SRV record.
        if not re.match(r"^_[a-z0-9-]+\._(tcp|udp)\.[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$", value.split("+", 1)[1]):
            raise ValueError("a dnssrv+ endpoint must name an SRV record, e.g. dnssrv+_grpc._tcp.thanos-store.monitoring.svc.cluster.local")
        return value
    if isinstance(value, str) and value.startswith("dns+"):
        return _STORE_ENDPOINT(value[4:])
    return _STORE_ENDPOINT(value)


SETTINGS = (
    setting("thanosEnabled", "boolean", "Deploy Thanos (sidecar upload, Query, Store Gateway, Compactor).", parse_bool, True),
    setting("thanosImage", "string", "Thanos image for every Thanos component.", image_ref, "quay.io/thanos/thanos:v0.42.4"),
    setting("thanosBucket", "string", "Object storage bucket for Thanos blocks. Required when Thanos is enabled.", s3_bucket, optional=True, example="dataops-thanos-{stack}"),
    setting("thanosEndpoint", "string", "S3 endpoint host[:port] (AWS S3, MinIO or Ceph RGW). Required when Thanos is enabled.", _endpoint, optional=True, example="minio.storage.svc:9000"),
    setting("thanosRegion", "string", "S3 region.", s3_region, "us-east-1"),
    setting("thanosInsecure", "boolean", "Use plain HTTP to the S3 endpoint (in-cluster MinIO without TLS).", parse_bool, False),
    setting("thanosRetentionRaw", "string", "Compactor retention of raw blocks.", duration_between("40h", "10y", "the compactor refuses raw retention under 40h while downsampling"), "15d"),
    setting("thanosRetention5m", "string", "Compactor retention of 5m-downsampled blocks.", duration_between("10d", "10y", "the compactor refuses 5m retention under 10d while downsampling"), "90d"),
    setting("thanosRetention1h", "string", "Compactor retention of 1h-downsampled blocks.", duration_between("10d", "10y"), "1y"),
    setting("thanosQueryReplicas", "integer", "Thanos Query replicas.", int_between(1, 10), 2),
    setting("thanosStoreEndpoints", "array", "Extra gRPC store endpoints (other clusters' Query or sidecars) for the global view.", parse_string_list, (), example='["thanos-query.other-cluster:10901"]'),
    setting("thanosReceiveEnabled", "boolean", "Deploy Thanos Receive and remote-write Prometheus to it.", parse_bool, False),
    setting("thanosStoreStorageSize", "string", "Store Gateway cache volume size.", byte_quantity_between("1Gi", "16Ti"), "20Gi"),
    setting("thanosCompactStorageSize", "string", "Compactor work volume size.", byte_quantity_between("10Gi", "16Ti"), "100Gi"),
    setting(
        "thanosObjectStorageCidrs",
        "array",
        "CIDRs of the object storage (thanosEndpoint): the egress Thanos Store, Compactor, Receive, Ruler and the Prometheus sidecars get, on thanosEndpoint's port (443, or 80 with thanosInsecure, when it names none). Default: any address on that port; set the storage's addresses to narrow it.",
        parse_string_list,
        ("0.0.0.0/0",),
        example='["10.20.0.0/16"]',
    ),
    setting("thanosAccessKey", "string", "S3 access key for Thanos. Required when Thanos is enabled, unless thanosServiceAccountAnnotations gives the pods a cloud identity.", text, optional=True, secret=True, example="<access-key>", placeholder_unless="thanosServiceAccountAnnotations"),
    setting("thanosSecretKey", "string", "S3 secret key for Thanos. Required when Thanos is enabled, unless thanosServiceAccountAnnotations gives the pods a cloud identity.", text, optional=True, secret=True, example="<secret-key>", placeholder_unless="thanosServiceAccountAnnotations"),
    setting(
        "thanosServiceAccountAnnotations",
        "object",
        "Object storage without static keys: annotations of the ServiceAccount the Thanos pods and Prometheus (its Thanos sidecar) run as, e.g. eks.amazonaws.com/role-arn (IAM role for service accounts). "
        "Set, and thanosAccessKey/thanosSecretKey unset, the objstore config carries no keys and Thanos' S3 client takes credentials from the pod's environment (AWS web identity, instance role).",
        lambda value: value,
        optional=True,
        example='["eks.amazonaws.com/role-arn"] <role ARN>',
    ),
    *(
        setting(
            f"thanos{part}Resources",
            "object",
            f"CPU/memory requests and limits of Thanos {what} (Kubernetes shape: requests.cpu, requests.memory, limits.cpu, limits.memory); keys left out keep their defaults.",
            lambda value: value,
            default,
            example=f"limits.memory {default['limits']['memory']}",
        )
        for part, what, default in (
            ("Query", "Query", {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}}),
            ("Store", "Store Gateway", {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}}),
            ("Compact", "Compactor", {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}),
            ("Receive", "Receive", {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}),
            ("Ruler", "Ruler", {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        )
    ),
)

# Bounds of each quantity in thanos<Part>Resources (CPU in cores, memory in bytes).
RESOURCE_PARSERS = {"cpu": quantity_between("10m", "64"), "memory": byte_quantity_between("32Mi", "1Ti")}
# An annotation key: an optional DNS-subdomain prefix and '/', then a name (Kubernetes' rule).
_annotation_key = pattern(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
    "must be an annotation key like eks.amazonaws.com/role-arn",
)


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits of one Thanos part, in Kubernetes' shape by ``as_k8s()``."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}, "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit}}

    @classmethod
    def of(cls, value: Mapping[str, Mapping[str, str]]) -> "ContainerResources":
        return cls(value["requests"]["cpu"], value["requests"]["memory"], value["limits"]["cpu"], value["limits"]["memory"])


def _default_resources(key: str) -> ContainerResources:
    return ContainerResources.of(next(s.default for s in SETTINGS if s.key == key))


@dataclass(frozen=True)
class BucketSettings:
    bucket: str
    endpoint: str
    region: str
    insecure: bool
    # None with a workload identity (thanosServiceAccountAnnotations): no keys in the objstore config.
    access_key: Optional[pulumi.Output]
    secret_key: Optional[pulumi.Output]


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
    # The prod profile: Store Gateway runs 2 replicas (a drain never leaves Query without the
    # bucket), the Ruler 2, and Query and Store Gateway get PodDisruptionBudgets (minAvailable 1).
    object_storage_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    store_replicas: int = 1
    disruption_budgets: bool = False
    # Requests and limits per part (thanos<Part>Resources).
    query_resources: ContainerResources = field(default_factory=lambda: _default_resources("thanosQueryResources"))
    store_resources: ContainerResources = field(default_factory=lambda: _default_resources("thanosStoreResources"))
    compact_resources: ContainerResources = field(default_factory=lambda: _default_resources("thanosCompactResources"))
    receive_resources: ContainerResources = field(default_factory=lambda: _default_resources("thanosReceiveResources"))
    ruler_resources: ContainerResources = field(default_factory=lambda: _default_resources("thanosRulerResources"))
    # thanosServiceAccountAnnotations: the Thanos pods run as their own ServiceAccount carrying them.
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)


def read(reader: Reader) -> ThanosSettings:
    g = reader.get
    enabled = bool(g("thanosEnabled"))
    bucket_name, endpoint = g("thanosBucket"), g("thanosEndpoint")
    if enabled:
        for key, value in (("thanosBucket", bucket_name), ("thanosEndpoint", endpoint)):
            if not value:
                reader.problem(f"{PROJECT}:{key} is not set (Thanos is enabled): {reader.schema[key].description} Fix: {reader.fix(key)}")
    annotations = read_annotations(reader, "thanosServiceAccountAnnotations")
    # With a workload identity the keys are not needed; without one, both are.
    keys_required = enabled and not annotations
    access_key = reader.secret("thanosAccessKey", keys_required, "Thanos is enabled")
    secret_key = reader.secret("thanosSecretKey", keys_required, "Thanos is enabled")
    if annotations and (access_key is not None or secret_key is not None):
        # Thanos' S3 client uses static keys first: the identity would silently go unused.
        set_keys = " && ".join(f"pulumi config rm {PROJECT}:{k}" for k, v in (("thanosAccessKey", access_key), ("thanosSecretKey", secret_key)) if v is not None)
        reader.problem(
            f"{PROJECT}:thanosServiceAccountAnnotations is set together with static S3 keys: Thanos would use the keys and ignore the identity. "
            f"Fix: {set_keys} (or pulumi config rm {PROJECT}:thanosServiceAccountAnnotations to keep the keys)"
        )
    elif access_key is None and secret_key is not None or access_key is not None and secret_key is None:
        missing = "thanosAccessKey" if access_key is None else "thanosSecretKey"
        reader.problem(f"{PROJECT}:{missing} is not set while its pair is: Thanos needs both keys or neither. Fix: {reader.fix(missing)}")
    region, insecure = g("thanosRegion"), g("thanosInsecure")
    bucket = None
    if enabled and bucket_name and endpoint and (access_key is not None and secret_key is not None or annotations and access_key is None and secret_key is None):
        bucket = BucketSettings(bucket_name, endpoint, region, insecure, access_key, secret_key)
    thanos = ThanosSettings(
        enabled=enabled,
        image=g("thanosImage"),
        bucket=bucket,
        retention_raw=g("thanosRetentionRaw"),
        retention_5m=g("thanosRetention5m"),
        retention_1h=g("thanosRetention1h"),
        query_replicas=g("thanosQueryReplicas"),
        store_endpoints=reader.items("thanosStoreEndpoints", _store_endpoint, "thanos-query.other-cluster:10901"),
        receive_enabled=bool(g("thanosReceiveEnabled")),
        store_storage_size=g("thanosStoreStorageSize"),
        compact_storage_size=g("thanosCompactStorageSize"),
        object_storage_cidrs=reader.items("thanosObjectStorageCidrs", cidr, "10.20.0.0/16"),
        store_replicas=2 if reader.is_prod else 1,
        disruption_budgets=reader.is_prod,
        query_resources=read_resources(reader, "thanosQueryResources"),
        store_resources=read_resources(reader, "thanosStoreResources"),
        compact_resources=read_resources(reader, "thanosCompactResources"),
        receive_resources=read_resources(reader, "thanosReceiveResources"),
        ruler_resources=read_resources(reader, "thanosRulerResources"),
        service_account_annotations=annotations,
    )
    # Downsampled blocks are built from raw ones: keeping them for less time than raw is always a mistake.
    for shorter, longer, fix in (("thanosRetention5m", "thanosRetentionRaw", "90d"), ("thanosRetention1h", "thanosRetention5m", "1y")):
        short_value, long_value = reader.seconds(shorter), reader.seconds(longer)
        if short_value is not None and long_value is not None and short_value < long_value:
            reader.problem(
                f"{PROJECT}:{shorter} = {reader.text(shorter)!r} is shorter than {PROJECT}:{longer} = {reader.text(longer)!r}. Fix: pulumi config set {PROJECT}:{shorter} {fix}"
            )
    if thanos.receive_enabled and not thanos.enabled:
        reader.problem(f"{PROJECT}:thanosReceiveEnabled is true but thanosEnabled is false. Fix: pulumi config set {PROJECT}:thanosEnabled true")
    if reader.is_prod and thanos.enabled and thanos.query_replicas < 2:
        reader.problem(f"{PROJECT}:thanosQueryReplicas = {thanos.query_replicas}: prod needs 2 so Grafana keeps a query path during a rollout. Fix: pulumi config set {PROJECT}:thanosQueryReplicas 2")
    if endpoint and "://" in endpoint:
        # Thanos' S3 client takes host[:port]; the scheme comes from thanosInsecure.
        reader.problem(f"{PROJECT}:thanosEndpoint = {endpoint!r}: give host[:port] without a scheme (http/https follows thanosInsecure). Fix: pulumi config set {PROJECT}:thanosEndpoint {endpoint.split('://', 1)[1].split('/', 1)[0]}")
    return thanos


def _path_fix(key: str, path: str, value: str) -> str:
    return f"pulumi config set --path '{PROJECT}:{key}.{path}' {value}"


def read_resources(reader: Reader, key: str) -> ContainerResources:
    """A thanos<Part>Resources object over its defaults: each quantity checked, request <= limit.

    Problems name the leaf (``thanosStoreResources.limits.memory``) with a ``--path`` fix."""
    default = reader.schema[key].default
    raw = reader.get(key)
    merged = {kind: dict(default[kind]) for kind in ("requests", "limits")}
    if raw is not None and raw is not default:
        if not isinstance(raw, Mapping):
            reader.problem(f"{PROJECT}:{key} = {raw!r}: must be an object with requests and/or limits. Fix: {_path_fix(key, 'limits.memory', default['limits']['memory'])}")
            raw = {}
        for kind, quantities in raw.items():
            if kind not in merged:
                reader.problem(f"{PROJECT}:{key}.{kind}: unknown key (requests or limits). Fix: pulumi config rm --path '{PROJECT}:{key}.{kind}'")
                continue
            if not isinstance(quantities, Mapping):
                reader.problem(f"{PROJECT}:{key}.{kind} = {quantities!r}: must be an object with cpu and/or memory. Fix: {_path_fix(key, kind + '.cpu', default[kind]['cpu'])}")
                continue
            for resource, value in quantities.items():
                if resource not in RESOURCE_PARSERS:
                    reader.problem(f"{PROJECT}:{key}.{kind}.{resource}: unknown key (cpu or memory). Fix: pulumi config rm --path '{PROJECT}:{key}.{kind}.{resource}'")
                    continue
                text_value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
                try:
                    merged[kind][resource] = RESOURCE_PARSERS[resource](text_value)
                except ValueError as err:
                    reader.problem(f"{PROJECT}:{key}.{kind}.{resource} = {value!r}: {err}. Fix: {_path_fix(key, f'{kind}.{resource}', default[kind][resource])}")
    for resource in RESOURCE_PARSERS:
        request, limit = merged["requests"][resource], merged["limits"][resource]
        try:
            larger = parse_quantity(request) > parse_quantity(limit)
        except ValueError:
            continue  # a bad quantity is already reported
        if larger:
            reader.problem(
                f"{PROJECT}:{key}.requests.{resource} = {request!r} is larger than {PROJECT}:{key}.limits.{resource} = {limit!r}. "
                f"Fix: {_path_fix(key, f'limits.{resource}', request)}"
            )
    return ContainerResources.of(merged)


def read_annotations(reader: Reader, key: str) -> dict[str, str]:
    """An object of ServiceAccount annotations: keys Kubernetes accepts, string values."""
    raw = reader.get(key)
    if raw is None:
        return {}
    # --path takes a key with dots and '/' in brackets and double quotes.
    example = '["eks.amazonaws.com/role-arn"]'
    if not isinstance(raw, Mapping):
        reader.problem(f"{PROJECT}:{key} = {raw!r}: must be an object of annotations. Fix: pulumi config set --path '{PROJECT}:{key}{example}' <value>")
        return {}
    annotations: dict[str, str] = {}
    for name, value in sorted(raw.items()):
        problem = ""
        try:
            _annotation_key(name)
        except ValueError as err:
            problem = str(err)
        if not problem and (not isinstance(value, str) or not value):
            problem = "the value must be a non-empty string"
        if problem:
            bad = f'["{name}"]'
            reader.problem(f"{PROJECT}:{key}{bad} = {value!r}: {problem}. Fix: pulumi config rm --path '{PROJECT}:{key}{bad}' && pulumi config set --path '{PROJECT}:{key}{example}' <value>")
            continue
        annotations[name] = value
    return annotations
