"""Settings of the Iceberg exporter: image, catalog, collection interval, S3 access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.settings import Reader, duration, image_ref, int_at_least, one_of, parse_bool, setting, text

SETTINGS = (
    setting("icebergExporterEnabled", "boolean", "Deploy the Iceberg table-metrics exporter.", parse_bool, True),
    setting("icebergExporterImage", "string", "Image built from exporters/iceberg/Dockerfile.", image_ref, "dataops/iceberg-exporter:0.1.0"),
    setting("icebergCatalogType", "string", "Iceberg catalog type: hive, rest or sql.", one_of("hive", "rest", "sql"), "hive"),
    setting("icebergCatalogUri", "string", "Iceberg catalog URI.", text, "thrift://hive-metastore:9083"),
    setting("icebergWarehouse", "string", "Warehouse location (for catalogs that need it).", text, optional=True, example="s3://warehouse/"),
    setting("icebergInterval", "string", "How often the exporter collects table metrics.", duration, "5m"),
    setting("icebergSmallFileBytes", "integer", "Data files smaller than this count as small files.", int_at_least(1), 33554432),
    setting("icebergS3Endpoint", "string", "S3 endpoint the exporter uses to read table metadata.", text, optional=True, example="http://minio.storage.svc:9000"),
    setting("icebergS3AccessKey", "string", "S3 access key for the Iceberg exporter.", text, optional=True, secret=True, example="<access-key>"),
    setting("icebergS3SecretKey", "string", "S3 secret key for the Iceberg exporter.", text, optional=True, secret=True, example="<secret-key>"),
)


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


def read(reader: Reader) -> IcebergSettings:
    g = reader.get
    return IcebergSettings(
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
