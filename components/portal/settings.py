"""Settings of the user layer: the Portal URLs blackbox_exporter probes."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import PROJECT, Reader, image_ref, parse_string_list, setting, url

# blackbox_exporter's http prober takes http(s) URLs only; anything else is a probe that always fails.
PORTAL_URL = url("http", "https", example="https://portal.dataops.internal/healthz")

SETTINGS = (
    setting("portalUrls", "array", "User-facing Portal URLs probed over HTTP by blackbox_exporter (the guide's user layer).", parse_string_list, (), example='["https://portal.dataops.example.com/healthz"]'),
    setting("blackboxExporterImage", "string", "blackbox_exporter image that probes the Portal.", image_ref, "quay.io/prometheus/blackbox-exporter:v0.28.0"),
)


@dataclass(frozen=True)
class PortalSettings:
    urls: tuple[str, ...]
    blackbox_exporter_image: str


def read(reader: Reader) -> PortalSettings:
    urls = reader.items("portalUrls", PORTAL_URL, "https://portal.dataops.internal/healthz")
    portal = PortalSettings(urls=urls, blackbox_exporter_image=reader.get("blackboxExporterImage"))
    if reader.is_prod and not portal.urls:
        reader.problem(
            f"{PROJECT}:portalUrls is empty: prod must probe the user-facing Portal (the user layer). "
            f"Fix: pulumi config set --path '{PROJECT}:portalUrls[0]' https://portal.dataops.internal/healthz"
        )
    return portal
