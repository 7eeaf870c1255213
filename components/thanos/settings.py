"""Settings of Thanos: image, object storage bucket, retention per resolution, Query and Receive."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import byte_quantity_between, cidr, duration_between, host_port, image_ref, int_between, parse_bool, parse_string_list, s3_bucket, s3_region, text

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
    setting("thanosAccessKey", "string", "S3 access key for Thanos. Required when Thanos is enabled.", text, optional=True, secret=True, example="<access-key>"),
    setting("thanosSecretKey", "string", "S3 secret key for Thanos. Required when Thanos is enabled.", text, optional=True, secret=True, example="<secret-key>"),
)


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
    # The prod profile: Store Gateway runs 2 replicas (a drain never leaves Query without the
    # bucket), the Ruler 2, and Query and Store Gateway get PodDisruptionBudgets (minAvailable 1).
    object_storage_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    store_replicas: int = 1
    disruption_budgets: bool = False


def read(reader: Reader) -> ThanosSettings:
    g = reader.get
    enabled = bool(g("thanosEnabled"))
    bucket_name, endpoint = g("thanosBucket"), g("thanosEndpoint")
    if enabled:
        for key, value in (("thanosBucket", bucket_name), ("thanosEndpoint", endpoint)):
            if not value:
                reader.problem(f"{PROJECT}:{key} is not set (Thanos is enabled): {reader.schema[key].description} Fix: {reader.fix(key)}")
    access_key = reader.secret("thanosAccessKey", enabled, "Thanos is enabled")
    secret_key = reader.secret("thanosSecretKey", enabled, "Thanos is enabled")
    region, insecure = g("thanosRegion"), g("thanosInsecure")
    bucket = None
    if enabled and bucket_name and endpoint and access_key is not None and secret_key is not None:
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
