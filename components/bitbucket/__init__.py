"""BitbucketMonitoring: Bitbucket Data Center through the "Prometheus Exporter For Bitbucket" app.

The app answers ``<base url>/plugins/servlet/prometheus/metrics`` only with its token as
the ``token`` query parameter (PrometheusExporter.java: 401 otherwise). No
ServiceMonitor/ScrapeConfig field takes a query parameter from a Secret, and a token in a
CR would be readable by everyone who can list monitoring CRs. So the whole scrape job
(``job_name: bitbucket``, what rules/bitbucket.rules.yaml selects) is a Prometheus
scrape config kept in a Kubernetes Secret, which Prometheus loads through the chart's
``prometheus.prometheusSpec.additionalScrapeConfigsSecret`` (``chart_values()``).
Note: Prometheus shows a target's scrape URL, token included, on its /targets page.
"""

from __future__ import annotations

from typing import Any

import pulumi

from core.parsers import ScrapeUrl
from components.bitbucket.settings import BitbucketSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, dump_yaml
from core.rules import domain_rule

COMPONENT = "bitbucket-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-01-gitops"
DOMAIN = "bitbucket"  # rules/bitbucket.rules.yaml -> PrometheusRule dataops-bitbucket
JOB = "bitbucket"
SCRAPE_SECRET = "bitbucket-scrape-config"
SCRAPE_KEY = "bitbucket-scrape.yaml"
# The app's own families plus the JVM series rules/jvm.rules.yaml reads (DefaultExports).
BITBUCKET_KEEP = r"bitbucket_.+|jvm_memory_bytes_(used|max)|jvm_gc_collection_seconds_(sum|count)"


def chart_values() -> dict[str, Any]:
    """kube-prometheus-stack values: Prometheus loads the scrape job from our Secret."""
    return {"prometheus": {"prometheusSpec": {"additionalScrapeConfigsSecret": {"enabled": True, "name": SCRAPE_SECRET, "key": SCRAPE_KEY}}}}


def scrape_configs(url: ScrapeUrl, token: str) -> list[dict[str, Any]]:
    """The Prometheus scrape_configs list (raw Prometheus syntax, snake_case) the Secret holds."""
    return [
        {
            "job_name": JOB,
            "scheme": url.scheme.lower(),
            "metrics_path": url.path,
            "params": {"token": [token]},
            "scrape_interval": "30s",
            "static_configs": [{"targets": [url.target]}],
            "metric_relabel_configs": [{"source_labels": ["__name__"], "regex": BITBUCKET_KEEP, "action": "keep"}],
        }
    ]


class BitbucketMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: BitbucketSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:BitbucketMonitoring", name, None, wiring.opts)
        document = settings.token.apply(lambda token: dump_yaml(scrape_configs(settings.url, token)))
        self.scrape_secret = credentials_secret(SCRAPE_SECRET, wiring.namespace, COMPONENT, {SCRAPE_KEY: document}, self)
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"target": settings.url.target})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("bitbucket", jobs="(.+/)?bitbucket.*", component=BitbucketMonitoring, deployed=lambda settings: settings.enabled, dashboard_part="bitbucket", chart_values=chart_values, runs_jvm=True)
