"""Settings of Trino monitoring: where Trino runs and the user Prometheus presents to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import parse_bool, non_empty, parse_dns_label, user_name

from core.settings import Reader, setting

SETTINGS = (
    setting("trinoEnabled", "boolean", "Monitor Trino (coordinator/worker ServiceMonitors and rules); false where the platform runs no Trino.", parse_bool, True),
    setting("trinoNamespace", "string", "Namespace where Trino runs.", parse_dns_label, "trino"),
    setting("trinoUser", "string", "User name Prometheus presents to Trino's /metrics.", user_name, "prometheus"),
    setting("trinoPassword", "string", "Password for Trino basic auth, when Trino requires one.", non_empty, optional=True, secret=True, example="<password>"),
)


@dataclass(frozen=True)
class TrinoSettings:
    namespace: str
    user: str
    password: Optional[pulumi.Output]
    enabled: bool = True


def read(reader: Reader) -> TrinoSettings:
    return TrinoSettings(namespace=reader.get("trinoNamespace"), user=reader.get("trinoUser"), password=reader.secret("trinoPassword", False), enabled=bool(reader.get("trinoEnabled")))
