"""Settings of Trino monitoring: where Trino runs and the user Prometheus presents to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import parse_bool, non_empty, parse_dns_label, parse_string_list, user_name

from core.settings import PROJECT, Reader, setting

SETTINGS = (
    setting("trinoEnabled", "boolean", "Monitor Trino (coordinator/worker ServiceMonitors and rules); false where the platform runs no Trino.", parse_bool, True),
    setting("trinoNamespace", "string", "Namespace where Trino runs (one Trino cluster; for several use trinoNamespaces instead).", parse_dns_label, "trino"),
    setting("trinoNamespaces", "array", "Namespaces where Trino clusters run (one cluster per namespace); set, it replaces trinoNamespace.", parse_string_list, optional=True, example='["trino","trino-adhoc"]'),
    setting("trinoUser", "string", "User name Prometheus presents to Trino's /metrics.", user_name, "prometheus"),
    setting("trinoPassword", "string", "Password for Trino basic auth, when Trino requires one.", non_empty, optional=True, secret=True, example="<password>"),
)


@dataclass(frozen=True)
class TrinoSettings:
    namespaces: tuple[str, ...]
    user: str
    password: Optional[pulumi.Output]
    enabled: bool = True


def read(reader: Reader) -> TrinoSettings:
    single = reader.get("trinoNamespace")
    namespaces = reader.items("trinoNamespaces", parse_dns_label, "trino")
    default = reader.schema["trinoNamespace"].default
    if namespaces and single not in (None, default):
        # Two answers to one question: say which one counts instead of silently picking one.
        reader.problem(
            f"{PROJECT}:trinoNamespace = {single!r} is set together with {PROJECT}:trinoNamespaces = {list(namespaces)!r}: trinoNamespaces replaces it. "
            f"Fix: pulumi config rm {PROJECT}:trinoNamespace (and list {single!r} in trinoNamespaces if Trino runs there)"
        )
    return TrinoSettings(
        namespaces=tuple(namespaces) or ((single,) if single else ()),
        user=reader.get("trinoUser"),
        password=reader.secret("trinoPassword", False),
        enabled=bool(reader.get("trinoEnabled")),
    )
