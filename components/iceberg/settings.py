"""Settings of the Iceberg exporter: image, catalog, collection interval, S3 access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import duration_between, image_ref, int_between, non_empty, one_of, parse_bool, pattern, url, url_port

from core.settings import PROJECT, Reader, setting

# scheme://rest: a catalog URI is never empty and never a bare host (the exporter would fail at start).
CATALOG_URI = pattern(r"^[a-z][a-z0-9+.-]*://\S+$", "must be a URI with a scheme (hive: thrift://hive-metastore:9083, rest: https://catalog.example.com, sql: postgresql://host:5432/db)")
WAREHOUSE = pattern(r"^[a-z][a-z0-9+.-]*:/\S*$", "must be a URI with a scheme (e.g. s3://warehouse/ or file:///data/warehouse)")
# What each catalog type connects with (pyiceberg): the URI scheme must match the type.
CATALOG_SCHEMES = {"hive": ("thrift",), "rest": ("http", "https"), "sql": ("postgresql", "postgres", "mysql", "sqlite", "mssql", "oracle")}

SETTINGS = (
    setting("icebergExporterEnabled", "boolean", "Deploy the Iceberg table-metrics exporter.", parse_bool, True),
    # No default: a default would name a registry namespace the adopting team does not own
    # (Docker Hub's dataops/ was one); the team names the registry it pushes to.
    setting("icebergExporterImage", "string", "Image built from exporters/iceberg/Dockerfile and pushed to a registry you control (make image push-image REGISTRY=<registry>); required while the exporter is enabled.", image_ref, optional=True, example="<registry>/iceberg-exporter:<tag>"),
    setting("icebergCatalogType", "string", "Iceberg catalog type: hive, rest or sql.", one_of("hive", "rest", "sql"), "hive"),
    setting("icebergCatalogUri", "string", "Iceberg catalog URI (hive: thrift://host:port, rest: http(s)://..., sql: a SQLAlchemy URL).", CATALOG_URI, "thrift://hive-metastore:9083"),
    setting("icebergWarehouse", "string", "Warehouse location (for catalogs that need it).", WAREHOUSE, optional=True, example="s3://warehouse/"),
    setting("icebergInterval", "string", "How often the exporter collects table metrics.", duration_between("30s", "1d"), "5m"),
    setting("icebergExporterShards", "integer", "Exporter replicas that split the lake between them (--shard I/N: each table is read by exactly one); one scrape target each.", int_between(1, 64), 1),
    setting("icebergSmallFileBytes", "integer", "Data files smaller than this count as small files.", int_between(1024, 2**31, "bytes: 1 KiB .. 2 GiB"), 33554432),
    setting("icebergS3Endpoint", "string", "S3 endpoint the exporter uses to read table metadata.", url("http", "https", example="http://minio.storage.svc:9000"), optional=True, example="http://minio.storage.svc:9000"),
    setting("icebergS3AccessKey", "string", "S3 access key for the Iceberg exporter.", non_empty, optional=True, secret=True, example="<access-key>"),
    setting("icebergS3SecretKey", "string", "S3 secret key for the Iceberg exporter.", non_empty, optional=True, secret=True, example="<secret-key>"),
)


@dataclass(frozen=True)
class IcebergSettings:
    enabled: bool
    image: Optional[str]
    catalog_type: str
    catalog_uri: str
    warehouse: Optional[str]
    interval: str
    small_file_bytes: int
    s3_endpoint: Optional[str]
    s3_access_key: Optional[pulumi.Output]
    s3_secret_key: Optional[pulumi.Output]
    shards: int = 1  # --shard I/N replicas


def read(reader: Reader) -> IcebergSettings:
    g = reader.get
    settings = IcebergSettings(
        enabled=bool(g("icebergExporterEnabled")),
        image=g("icebergExporterImage"),
        catalog_type=g("icebergCatalogType"),
        catalog_uri=g("icebergCatalogUri"),
        warehouse=g("icebergWarehouse"),
        interval=g("icebergInterval"),
        small_file_bytes=g("icebergSmallFileBytes"),
        shards=g("icebergExporterShards"),
        s3_endpoint=g("icebergS3Endpoint"),
        s3_access_key=reader.secret("icebergS3AccessKey", False),
        s3_secret_key=reader.secret("icebergS3SecretKey", False),
    )
    if reader.peek("icebergCatalogUri") is not None and reader.peek("icebergCatalogType") is not None:
        scheme = settings.catalog_uri.split("://", 1)[0].split("+", 1)[0]
        expected = CATALOG_SCHEMES.get(settings.catalog_type, ())
        if expected and scheme not in expected:
            reader.problem(
                f"{PROJECT}:icebergCatalogUri = {settings.catalog_uri!r} is not a {settings.catalog_type} catalog URI "
                f"({PROJECT}:icebergCatalogType = {settings.catalog_type!r} expects {' or '.join(s + '://' for s in expected)}). "
                f"Fix: pulumi config set {PROJECT}:icebergCatalogUri {expected[0]}://<host>{':9083' if settings.catalog_type == 'hive' else ''} "
                f"(or pulumi config set {PROJECT}:icebergCatalogType <hive|rest|sql>)"
            )
        elif scheme == "thrift" and url_port(settings.catalog_uri) is None:
            reader.problem(f"{PROJECT}:icebergCatalogUri = {settings.catalog_uri!r}: a Hive Metastore URI needs a host. Fix: pulumi config set {PROJECT}:icebergCatalogUri thrift://hive-metastore:9083")
    # The exporter uses static S3 credentials only as a pair; one alone would be dropped in silence.
    for present, missing in (("icebergS3AccessKey", "icebergS3SecretKey"), ("icebergS3SecretKey", "icebergS3AccessKey")):
        if reader.raw(present) is not None and reader.raw(missing) is None:
            reader.problem(f"{PROJECT}:{present} is set but {PROJECT}:{missing} is not: the exporter needs both. Fix: {reader.fix(missing)} (or pulumi config rm {PROJECT}:{present})")
    if settings.enabled and settings.image is None:
        # Every profile: nothing builds or pushes the exporter image anywhere but the team's own
        # registry, so there is no default to fall back on.
        reader.problem(
            f"{PROJECT}:icebergExporterImage is not set: the Iceberg exporter runs the image you built and pushed "
            f"(make image push-image REGISTRY=<registry>; Jenkins sets it to the commit's tag). "
            f"Fix: pulumi config set {PROJECT}:icebergExporterImage <registry>/iceberg-exporter:<tag> "
            f"(or pulumi config set {PROJECT}:icebergExporterEnabled false)"
        )
    return settings
