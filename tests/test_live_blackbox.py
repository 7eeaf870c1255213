"""The Portal probe end to end on 127.0.0.1: real blackbox_exporter with our module config,
real Prometheus running our portal rules, two local "portal" pages (one healthy, one failing).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from core.rules import RULES_DIR, load_rule_file
from components.portal import HTTP_MODULE, PROBE_JOB, blackbox_config
from tests.live import free_port, http_get, prom_query, running, tool, wait_until

pytestmark = pytest.mark.live


class _Portal(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        status = 200 if self.path == "/healthz" else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"down")

    def log_message(self, *args):
        pass


def test_portal_probe_and_rules_with_real_blackbox_exporter_and_prometheus(tmp_path):
    blackbox = tool("prometheus-blackbox-exporter")
    prometheus = tool("prometheus")
    portal = ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        healthy = f"http://127.0.0.1:{portal.server_port}/healthz"
        failing = f"http://127.0.0.1:{portal.server_port}/login"
        bb_port, prom_port = free_port(), free_port()
        (tmp_path / "blackbox.yml").write_text(yaml.safe_dump(blackbox_config()))
        rules = load_rule_file(RULES_DIR / "portal.rules.yaml")
        for group in rules["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                rule.pop("for", None)  # fire at once: the test is about wiring, promtool tests cover timing
        (tmp_path / "portal.rules.yaml").write_text(yaml.safe_dump(rules))
        # What the operator generates from our Probe CR: /probe with module and target params.
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "portal.rules.yaml")],
            "scrape_configs": [
                {
                    "job_name": PROBE_JOB,
                    "metrics_path": "/probe",
                    "params": {"module": [HTTP_MODULE]},
                    "static_configs": [{"targets": [healthy, failing]}],
                    "relabel_configs": [
                        {"source_labels": ["__address__"], "target_label": "__param_target"},
                        {"source_labels": ["__param_target"], "target_label": "instance"},
                        {"target_label": "__address__", "replacement": f"127.0.0.1:{bb_port}"},
                    ],
                }
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        bb_args = [blackbox, f"--config.file={tmp_path / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{bb_port}"]
        prom_args = [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        base = f"http://127.0.0.1:{prom_port}"
        with running(bb_args, tmp_path / "blackbox.log", f"http://127.0.0.1:{bb_port}/-/healthy"), running(
            prom_args, tmp_path / "prometheus.log", f"{base}/-/ready"
        ):
            results = wait_until(lambda: len(prom_query(base, "probe_success")) == 2 and prom_query(base, "probe_success"), 30, "both probes")
            success = {r["metric"]["instance"]: float(r["value"][1]) for r in results}
            assert success == {healthy: 1.0, failing: 0.0}
            # The rule may first run between the two targets' first scrapes: wait for both.
            def availability():
                result = prom_query(base, "dataops:portal:availability")
                return result and float(result[0]["value"][1]) == 0.5

            wait_until(availability, 30, "portal availability 0.5 (one of two URLs up)")

            def firing():
                alerts = json.loads(http_get(f"{base}/api/v1/alerts"))["data"]["alerts"]
                return [a for a in alerts if a["labels"]["alertname"] == "PortalDown" and a["state"] == "firing"]

            alerts = wait_until(firing, 30, "PortalDown firing")
            assert [a["labels"]["instance"] for a in alerts] == [failing]
            assert alerts[0]["labels"]["severity"] == "critical"
    finally:
        portal.shutdown()
        portal.server_close()
