"""Settings of object storage monitoring: the MinIO tenant serving S3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import parse_bool, non_empty, parse_dns_label

from core.settings import Reader, setting

SETTINGS = (
    setting("minioEnabled", "boolean", "Object storage is a MinIO tenant whose cluster metrics are scraped (ServiceMonitor, MinIO/S3 rules, the storage layer of platform availability); false for a cloud S3 without MinIO metrics: the volume rules stay.", parse_bool, True),
    setting("minioNamespace", "string", "Namespace of the MinIO tenant serving S3 (cluster metrics v2 are scraped there).", parse_dns_label, "minio"),
    setting("minioPrometheusToken", "string", "Bearer token for MinIO's metrics (mc admin prometheus generate); omit when MINIO_PROMETHEUS_AUTH_TYPE=public.", non_empty, optional=True, secret=True, example="<jwt>"),
)


@dataclass(frozen=True)
class StorageSettings:
    minio_namespace: str
    minio_token: Optional[pulumi.Output]
    minio_enabled: bool = True


def read(reader: Reader) -> StorageSettings:
    return StorageSettings(minio_namespace=reader.get("minioNamespace"), minio_token=reader.secret("minioPrometheusToken", False), minio_enabled=bool(reader.get("minioEnabled")))
