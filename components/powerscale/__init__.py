"""PowerScaleMonitoring: Dell gostats (Isilon/powerscale_data_insights) for a PowerScale cluster.

gostats runs next to the storage (not in this stack) and serves one /metrics port per
PowerScale cluster, so the scrape is a ``ScrapeConfig`` (monitoring.coreos.com/v1alpha1,
static target) with ``jobName: powerscale``, what rules/powerscale.rules.yaml selects
(``(.+/)?(powerscale|isilon).*``; an operator older than v0.75 ignores ``jobName`` and
names the job ``scrapeConfig/<namespace>/powerscale``, which matches too). Basic auth, when gostats enables it, comes from a
Kubernetes Secret the ScrapeConfig references.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from core.parsers import ScrapeUrl
from components.powerscale.settings import PowerScaleSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import credentials_secret, keep_metrics, labels
from core.rules import domain_rule

COMPONENT = "powerscale-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-02-resource"
DOMAIN = "powerscale"  # rules/powerscale.rules.yaml -> PrometheusRule dataops-powerscale
JOB = "powerscale"
AUTH_SECRET = "powerscale-metrics-auth"
# What the PowerScale rules and the resource dashboard read (docs/metrics/powerscale.yaml).
POWERSCALE_KEEP = r"isilon_stat_(cluster_health|cluster_node_count_(all|down)|ifs_(percent_avail|bytes_(total|avail|used)))"


def scrape_spec(url: ScrapeUrl, basic_auth: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "jobName": JOB,
        "staticConfigs": [{"targets": [url.target]}],
        "metricsPath": url.path,
        "scheme": url.scheme,
        # gostats stamps samples with the OneFS collection time; keep them (rules expect it).
        "honorTimestamps": True,
        "scrapeInterval": "30s",
        "metricRelabelings": keep_metrics(POWERSCALE_KEEP),
    }
    if basic_auth:
        spec["basicAuth"] = {"username": {"name": AUTH_SECRET, "key": "username"}, "password": {"name": AUTH_SECRET, "key": "password"}}
    return spec


class PowerScaleMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: PowerScaleSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:PowerScaleMonitoring", name, None, wiring.opts)
        depends_on: list[pulumi.Resource] = [wiring.operator]
        basic_auth = settings.user is not None and settings.password is not None
        credentials = {"username": settings.user, "password": settings.password} if basic_auth else {}
        self.auth_secret = credentials_secret(AUTH_SECRET, wiring.namespace, COMPONENT, credentials, self)
        if self.auth_secret is not None:
            depends_on.append(self.auth_secret)
        self.scrape_config = k8s.apiextensions.CustomResource(
            JOB,
            api_version="monitoring.coreos.com/v1alpha1",
            kind="ScrapeConfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=JOB, namespace=wiring.namespace, labels=labels(COMPONENT)),
            spec=scrape_spec(settings.url, basic_auth),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"target": settings.url.target})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("powerscale", jobs="(.+/)?(powerscale|isilon).*", component=PowerScaleMonitoring, deployed=lambda settings: settings.enabled, dashboard_part="powerscale")
