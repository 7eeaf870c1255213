"""Our generated Alertmanager config in a real Alertmanager on 127.0.0.1.

amtool proves the routing tree; this proves delivery: alerts posted to a real Alertmanager
reach PagerDuty and Slack receivers (stand-ins on loopback) with the credentials read from
the mounted files, the Korean summary and the Grafana link, and a critical alert inhibits
the high one of the same alertname and cluster.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from components.alerting.alertmanager_config import CREDENTIALS_SECRET_NAME, PAGERDUTY_KEY, SLACK_KEY, alertmanager_config
from tests.live import free_port, running, tool, wait_until, with_package_share
from tools.slo_rules import load_stack_settings

pytestmark = pytest.mark.live


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, json.loads(body)))
        self.send_response(202 if self.path.startswith("/pagerduty") else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"success","message":"Event processed","dedup_key":"x"}' if self.path.startswith("/pagerduty") else b"ok")

    def log_message(self, *args):
        pass


def _alert(name: str, severity: str, summary: str) -> dict:
    links = load_stack_settings("prod").links  # the links a prod alert carries (core.rules.Links)
    return {
        "labels": {"alertname": name, "severity": severity, "cluster": "dataops-prod", "component": "platform", "namespace": "spark-jobs"},
        "annotations": {
            "summary": summary,
            "description": "테스트 경보",
            "runbook_url": links.runbook(name),
            "dashboard_url": links.dashboard("dataops-00-main"),
        },
    }


def test_alerts_reach_pagerduty_and_slack_through_a_real_alertmanager(tmp_path):
    alertmanager = tool("prometheus-alertmanager")
    _Receiver.received = []
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        settings = load_stack_settings("prod")
        config = alertmanager_config(settings.routing, settings.cluster_name, "prod", secrets_dir=str(tmp_path), has_pagerduty=True, has_slack=True)
        # Only the delivery endpoints and the first-notification delay differ from production:
        # PagerDuty and Slack are stand-ins on loopback, and the MTTD test covers group_wait.
        config["global"]["pagerduty_url"] = f"http://127.0.0.1:{sink.server_port}/pagerduty"
        config["route"]["group_wait"] = "1s"
        credentials = tmp_path / CREDENTIALS_SECRET_NAME
        credentials.mkdir()
        routing_key = secrets.token_hex(16)
        (credentials / PAGERDUTY_KEY).write_text(routing_key)
        (credentials / SLACK_KEY).write_text(f"http://127.0.0.1:{sink.server_port}/slack")
        (tmp_path / "alertmanager.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))

        port = free_port()
        args = with_package_share([
            alertmanager,
            f"--config.file={tmp_path / 'alertmanager.yaml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: a single instance on loopback
        ], "prometheus-alertmanager")  # Debian's build reads its default.tmpl from /usr/share
        with running(args, tmp_path / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready"):
            alerts = [
                _alert("SparkJobFailureSpike", "critical", "Spark Job 실패율 급증 (35%)"),
                _alert("SparkJobFailureSpike", "high", "inhibited: same alertname and cluster as a critical"),
                _alert("MinIOCapacityLow", "high", "MinIO 용량 부족 (minio: 90% 사용)"),
                _alert("AirflowSchedulerLag", "medium", "Airflow Scheduler 지연"),
            ]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/alerts",
                data=json.dumps(alerts).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                assert response.status == 200

            def delivered():
                paths = [p for p, _ in _Receiver.received]
                return paths.count("/slack") >= 3 and "/pagerduty" in paths

            wait_until(delivered, 30, "PagerDuty and three Slack notifications")
            # Give a wrongly routed or uninhibited notification the time to show up too.
            time.sleep(3)

        pagerduty = [body for path, body in _Receiver.received if path == "/pagerduty"]
        assert len(pagerduty) == 1
        assert pagerduty[0]["routing_key"] == routing_key  # read from the mounted file
        assert pagerduty[0]["event_action"] == "trigger"
        assert "Spark Job 실패율 급증" in pagerduty[0]["payload"]["summary"]
        assert pagerduty[0]["payload"]["custom_details"]["dashboard_url"] == "https://grafana.dataops.internal/d/dataops-00-main"

        slack = [body for path, body in _Receiver.received if path == "/slack"]
        by_channel: dict[str, list[str]] = {}
        for body in slack:
            for attachment in body["attachments"]:
                by_channel.setdefault(body["channel"], []).append(attachment["text"])
        ops = "\n".join(by_channel.get("#dataops-ops", []))
        assert "Spark Job 실패율 급증" in ops and "MinIO 용량 부족" in ops
        assert "https://grafana.dataops.internal/d/dataops-00-main" in ops
        assert "inhibited" not in "\n".join(t for texts in by_channel.values() for t in texts)
        assert "Airflow Scheduler 지연" in "\n".join(by_channel.get("#dataops-alerts", []))
        assert "Airflow Scheduler 지연" not in ops
    finally:
        sink.shutdown()
        sink.server_close()
