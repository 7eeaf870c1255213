"""PortalMonitoring under the mock engine, and its settings."""

from __future__ import annotations

import pytest
import yaml

from components.portal import blackbox_config
from settings import PROJECT, SettingsError
from tests.conftest import random_secret
from tests.settings_util import load

PROBE = "kubernetes:monitoring.coreos.com/v1:Probe"


def test_probe_targets_the_configured_urls_through_the_blackbox_service(prod_run):
    probe = prod_run.one(PROBE, "portal")
    spec = probe.inputs["spec"]
    assert spec["jobName"] == "portal" and spec["module"] == "http_2xx"
    assert spec["targets"]["staticConfig"]["static"] == ["https://portal.dataops.internal/healthz"]
    assert spec["prober"]["url"] == "blackbox-exporter.monitoring.svc:9115"
    release = prod_run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack")
    assert release.urn in probe.dependencies
    assert probe.parent == prod_run.one("dataops:monitoring:PortalMonitoring", "portal").urn


def test_blackbox_runs_the_module_the_probe_names(prod_run):
    config_map = prod_run.one("kubernetes:core/v1:ConfigMap", "blackbox-exporter-config")
    config = yaml.safe_load(config_map.inputs["data"]["blackbox.yml"])
    assert config == blackbox_config()
    assert prod_run.one(PROBE, "portal").inputs["spec"]["module"] in config["modules"]
    container = prod_run.one("kubernetes:apps/v1:Deployment", "blackbox-exporter").inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"].startswith("quay.io/prometheus/blackbox-exporter:v")


def test_staging_without_urls_deploys_no_prober(staging_run):
    assert not staging_run.by_type("dataops:monitoring:PortalMonitoring")


def test_prod_requires_a_portal_url():
    values = {"environment": "prod", "clusterName": "dataops-prod", "kubeContext": "dataops-prod", "icebergExporterImage": "registry.example/iceberg-exporter:1.0.0", "thanosEnabled": False,
              "pagerdutyRoutingKey": random_secret("pd"), "slackWebhookUrl": random_secret("slack"),
              "deadMansSwitchUrl": random_secret("deadMansSwitchUrl")}
    with pytest.raises(SettingsError) as excinfo:
        load(values)
    assert any(f"{PROJECT}:portalUrls is empty" in p and "pulumi config set" in p for p in excinfo.value.problems)
    load({**values, "portalUrls": ["https://portal.example/healthz"]})
