"""Settings of PowerScale (Isilon) monitoring: the gostats collector's /metrics URL and its basic auth.

Off unless ``powerscaleExporterUrl`` is set. gostats (Isilon/powerscale_data_insights)
serves one port per PowerScale cluster; basic auth is optional in its ``[prometheus]``
section: with ``powerscaleExporterUser`` set the (secret) password is required too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

import pulumi

from core.parsers import text

from core.settings import PROJECT, Reader, setting


@dataclass(frozen=True)
class ScrapeUrl:
    """A metrics URL split the way a Prometheus scrape config spells it."""

    scheme: str  # HTTP | HTTPS (ScrapeConfig enum)
    target: str  # host:port
    path: str

    @property
    def url(self) -> str:
        return f"{self.scheme.lower()}://{self.target}{self.path}"


def scrape_url(value: Any, default_path: str = "/metrics") -> ScrapeUrl:
    """An http(s) URL with an explicit host, no credentials, query or fragment."""
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", value):
        raise ValueError("must be an http(s) URL, e.g. http://gostats.example.com:9090/metrics")
    parts = urlsplit(value)
    if parts.username or parts.password:
        raise ValueError("must not contain credentials (set them in their own settings)")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query string or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("has no host")
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.netloc if port else f"{parts.netloc}:{default_port}"
    return ScrapeUrl(scheme=parts.scheme.upper(), target=host, path=parts.path or default_path)


def _metrics_url(value: Any) -> ScrapeUrl:
    return scrape_url(value)


SETTINGS = (
    setting("powerscaleExporterUrl", "string", "URL of Dell gostats' Prometheus endpoint for a PowerScale cluster (http(s)://host:port/metrics). Unset: PowerScale monitoring is off.", _metrics_url, optional=True, example="http://gostats.storage.example.com:9090/metrics"),
    setting("powerscaleExporterUser", "string", "Basic-auth user of the gostats endpoint, when its [prometheus] section enables authentication.", text, optional=True, example="prometheus"),
    setting("powerscaleExporterPassword", "string", "Basic-auth password of the gostats endpoint (with powerscaleExporterUser).", text, optional=True, secret=True, example="<password>"),
)


@dataclass(frozen=True)
class PowerScaleSettings:
    url: Optional[ScrapeUrl]
    user: Optional[str]
    password: Optional[pulumi.Output]  # secret

    @property
    def enabled(self) -> bool:
        return self.url is not None


def read(reader: Reader) -> PowerScaleSettings:
    url = reader.get("powerscaleExporterUrl")
    user = reader.get("powerscaleExporterUser") or None
    url_set = reader.raw("powerscaleExporterUrl") is not None
    if user and not url_set:
        reader.problem(
            f"{PROJECT}:powerscaleExporterUser = {user!r} but powerscaleExporterUrl is not set: there is nothing to scrape. "
            f"Fix: {reader.fix('powerscaleExporterUrl')}"
        )
    # Basic auth is on with a user; a password alone is ignored (an offline render gives every
    # missing secret a placeholder, so its presence says nothing).
    password = None
    if user and url_set:
        password = reader.secret("powerscaleExporterPassword", required=True, why=f"powerscaleExporterUser = {user!r}: gostats basic auth needs both")
    return PowerScaleSettings(url=url, user=user if password is not None else None, password=password)
