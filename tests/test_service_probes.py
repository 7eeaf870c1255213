"""Service health probes: each service's own health endpoint through blackbox_exporter.

Settings (probe<Service>Url, off while unset) -> one Probe CR per service (job
service-health, labels service/layer) and the dataops_services rule group; the http_health
module (2xx AND no unhealthy/starting body) checked against a real blackbox_exporter.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from components.portal import HEALTH_MODULE, SERVICE_PROBE_JOB, blackbox_config, portal_rule_groups
from components.portal.settings import SERVICE_PROBES
from tests.conftest import PROJECT, with_secrets
from tests.live import free_port, http_get, running, tool

PROBE = "kubernetes:monitoring.coreos.com/v1:Probe"
RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


# ------------------------------------------------------------------ module and rule groups


def test_health_module_only_where_services_are_probed():
    assert HEALTH_MODULE not in blackbox_config()["modules"]  # a stack without probes keeps its config
    module = blackbox_config(service_health=True)["modules"][HEALTH_MODULE]
    assert module["prober"] == "http" and module["http"]["valid_status_codes"] == []
    bodies = module["http"]["fail_if_body_matches_regexp"]
    airflow_unhealthy = '{"metadatabase": {"status": "healthy"}, "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": null}}'
    assert any(re.search(b, airflow_unhealthy) for b in bodies)
    assert not any(re.search(b, airflow_unhealthy.replace("unhealthy", "healthy")) for b in bodies)
    assert any(re.search(b, '{"nodeVersion":{"version":"476"},"coordinator":true,"starting":true}') for b in bodies)
    assert not any(re.search(b, '{"nodeVersion":{"version":"476"},"coordinator":true,"starting":false}') for b in bodies)


def test_rule_groups_follow_what_the_stack_probes():
    names = lambda groups: [g["name"] for g in groups]  # noqa: E731
    assert names(portal_rule_groups(portal=True, services=False)) == ["dataops_portal"]
    assert names(portal_rule_groups(portal=False, services=True)) == ["dataops_services"]
    assert names(portal_rule_groups(portal=True, services=True)) == ["dataops_portal", "dataops_services"]
    assert portal_rule_groups(portal=False, services=False) == []


# ------------------------------------------------------------------ settings


def test_probe_urls_are_checked_one_problem_per_key():
    from settings import SettingsError
    from tests.settings_util import load

    with pytest.raises(SettingsError) as excinfo:
        load({"environment": "staging", "clusterName": "c", "thanosEnabled": False, "probeTrinoUrl": "trino:8080/v1/info", "probeJenkinsUrl": "ftp://jenkins/login"})
    problems = [p for p in excinfo.value.problems if "probe" in p]
    assert len(problems) == 2, problems
    assert any("dataops-monitoring:probeTrinoUrl = 'trino:8080/v1/info'" in p and "Fix: pulumi config set dataops-monitoring:probeTrinoUrl" in p for p in problems)
    assert any("dataops-monitoring:probeJenkinsUrl = 'ftp://jenkins/login'" in p for p in problems)
    settings = load({"environment": "staging", "clusterName": "c", "thanosEnabled": False, "probeMinioUrl": "http://minio.minio.svc:9000/minio/health/cluster"})
    assert settings.portal.service_probes == (("minio", "storage", "http://minio.minio.svc:9000/minio/health/cluster"),)


def test_every_service_maps_to_a_platform_layer():
    from components.platform import layer_jobs

    layers = set(layer_jobs())
    assert {layer for _, _, layer, _, _ in SERVICE_PROBES} <= layers
    assert [s for _, s, _, _, _ in SERVICE_PROBES] == ["airflow", "trino", "minio", "argocd", "jenkins"]


# ------------------------------------------------------------------ under the mock engine


def test_staging_with_probe_urls_gets_one_probe_per_service_and_only_the_service_rules(run_stack):
    urls = {
        "probeTrinoUrl": "http://trino.trino.svc:8080/v1/info",
        "probeArgocdUrl": "http://argocd-server.argocd.svc/healthz",
    }
    run = run_stack("staging", {**with_secrets(("thanosAccessKey", "thanosSecretKey")), **{f"{PROJECT}:{k}": v for k, v in urls.items()}})
    probes = {r.name: r for r in run.by_type(PROBE) if r.name.startswith("service-health-")}
    assert set(probes) == {"service-health-trino", "service-health-argocd"}
    trino = probes["service-health-trino"].inputs["spec"]
    assert trino["jobName"] == SERVICE_PROBE_JOB and trino["module"] == HEALTH_MODULE
    assert trino["targets"]["staticConfig"] == {"static": [urls["probeTrinoUrl"]], "labels": {"service": "trino", "layer": "trino"}}
    assert probes["service-health-argocd"].inputs["spec"]["targets"]["staticConfig"]["labels"] == {"service": "argocd", "layer": "gitops"}
    assert trino["prober"]["path"] == "/probe" and trino["prober"]["url"].startswith("blackbox-exporter.")
    release = run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack")
    assert all(release.urn in p.dependencies for p in probes.values())
    # Staging has no Portal URLs: no Portal Probe and no Portal rules (PortalProbeMissing would fire forever).
    assert [r.name for r in run.by_type(PROBE) if r.name == "portal"] == []
    rule = run.one(RULE_CR, "dataops-portal")
    assert [g["name"] for g in rule.inputs["spec"]["groups"]] == ["dataops_services"]
    config = yaml.safe_load(run.one("kubernetes:core/v1:ConfigMap", "blackbox-exporter-config").inputs["data"]["blackbox.yml"])
    assert HEALTH_MODULE in config["modules"]


def test_prod_without_probe_urls_probes_no_service(prod_run):
    assert [r.name for r in prod_run.by_type(PROBE) if r.name.startswith("service-health-")] == []
    rule = prod_run.one(RULE_CR, "dataops-portal")
    assert "dataops_services" not in [g["name"] for g in rule.inputs["spec"]["groups"]]


# ------------------------------------------------------------------ real blackbox_exporter


class _Services(BaseHTTPRequestHandler):
    # path -> (status, body), shaped like each service's real answer
    ANSWERS = {
        "/airflow/health": (200, b'{"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-11-30T09:00:00+00:00"}}'),
        "/airflow-db-down/health": (200, b'{"metadatabase": {"status": "unhealthy"}, "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": null}}'),
        "/trino/v1/info": (200, b'{"nodeVersion":{"version":"476"},"environment":"prod","coordinator":true,"starting":false,"uptime":"3.00h"}'),
        "/trino-starting/v1/info": (200, b'{"nodeVersion":{"version":"476"},"environment":"prod","coordinator":true,"starting":true,"uptime":"5.00s"}'),
        "/minio/health/cluster": (200, b""),
        "/minio-no-quorum/minio/health/cluster": (503, b""),
        "/argocd/healthz": (200, b"ok"),
    }

    def do_GET(self):  # noqa: N802 - http.server API
        status, body = self.ANSWERS.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.live
def test_health_module_with_a_real_blackbox_exporter(tmp_path):
    blackbox = tool("prometheus-blackbox-exporter")
    services = ThreadingHTTPServer(("127.0.0.1", 0), _Services)
    threading.Thread(target=services.serve_forever, daemon=True).start()
    try:
        (tmp_path / "blackbox.yml").write_text(yaml.safe_dump(blackbox_config(service_health=True)))
        port = free_port()
        args = [blackbox, f"--config.file={tmp_path / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}"]
        with running(args, tmp_path / "blackbox.log", f"http://127.0.0.1:{port}/-/healthy"):
            def success(path: str) -> float:
                target = f"http://127.0.0.1:{services.server_port}{path}"
                text = http_get(f"http://127.0.0.1:{port}/probe?module={HEALTH_MODULE}&target={target}", timeout=15).decode()
                return float(re.search(r"^probe_success (\S+)$", text, re.M).group(1))

            got = {path: success(path) for path in _Services.ANSWERS}
        assert got == {
            "/airflow/health": 1.0,
            "/airflow-db-down/health": 0.0,  # 200, but the body says unhealthy
            "/trino/v1/info": 1.0,
            "/trino-starting/v1/info": 0.0,  # 200, but not ready for queries
            "/minio/health/cluster": 1.0,
            "/minio-no-quorum/minio/health/cluster": 0.0,
            "/argocd/healthz": 1.0,
        }
    finally:
        services.shutdown()
        services.server_close()
