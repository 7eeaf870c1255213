"""Settings of Bitbucket monitoring: the "Prometheus Exporter For Bitbucket" endpoint and its token.

Off unless ``bitbucketMetricsUrl`` is set. The app only accepts its token as the ``token``
query parameter, so the token is required with the URL and travels in a Kubernetes
Secret holding the whole scrape job (never in a CR or Helm values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from core.parsers import ScrapeUrl, scrape_url
from core.parsers import text
from core.settings import Reader, setting

APP_PATH = "/plugins/servlet/prometheus/metrics"


def _bitbucket_url(value: Any) -> ScrapeUrl:
    url = scrape_url(value, default_path="")
    if not url.path.endswith(APP_PATH):
        raise ValueError(f"must be the app's endpoint <bitbucket base url>{APP_PATH}, e.g. https://bitbucket.example.com{APP_PATH}")
    return url


SETTINGS = (
    setting("bitbucketMetricsUrl", "string", f"Bitbucket Data Center URL of the Prometheus Exporter For Bitbucket app (<base url>{APP_PATH}). Unset: Bitbucket monitoring is off.", _bitbucket_url, optional=True, example=f"https://bitbucket.example.com{APP_PATH}"),
    setting("bitbucketToken", "string", "Token set in the app's admin page (Prometheus Exporter Settings); sent as ?token=. Required with bitbucketMetricsUrl.", text, optional=True, secret=True, example="<token>"),
)


@dataclass(frozen=True)
class BitbucketSettings:
    url: Optional[ScrapeUrl]
    token: Optional[pulumi.Output]  # secret

    @property
    def enabled(self) -> bool:
        return self.url is not None


def read(reader: Reader) -> BitbucketSettings:
    url = reader.get("bitbucketMetricsUrl")
    url_set = reader.raw("bitbucketMetricsUrl") is not None
    if not url_set:
        return BitbucketSettings(url=None, token=None)
    token = reader.secret("bitbucketToken", required=True, why="bitbucketMetricsUrl is set: the app answers 401 without its token")
    return BitbucketSettings(url=url, token=token)
