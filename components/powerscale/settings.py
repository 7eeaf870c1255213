"""Settings of PowerScale (Isilon) monitoring: the gostats collector's /metrics URL and its basic auth.

Off unless ``powerscaleExporterUrl`` is set. gostats (Isilon/powerscale_data_insights)
serves one port per PowerScale cluster; basic auth is optional in its ``[prometheus]``
section: with ``powerscaleExporterUser`` set the (secret) password is required too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from core.parsers import ScrapeUrl, scrape_url, text

from core.settings import PROJECT, Reader, setting


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
