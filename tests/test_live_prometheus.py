"""Our recording rules evaluated by a real Prometheus scraping a real node_exporter on 127.0.0.1.

promtool tests prove the expressions on synthetic series; this proves them against what
node_exporter really exposes, through a real Prometheus rule manager.
"""

from __future__ import annotations

import json

import pytest
import yaml

from core.rules import RULES_DIR, load_rule_file
from tests.live import free_port, http_get, prom_query, running, tool, wait_until

pytestmark = pytest.mark.live


def _fast_copy(rule_file: str, target) -> None:
    """The shipped rules, evaluated every second instead of every 30s-5m so the test stays short."""
    document = load_rule_file(RULES_DIR / rule_file)
    for group in document["groups"]:
        group["interval"] = "1s"
    target.write_text(yaml.safe_dump(document, sort_keys=False))


def test_platform_rules_on_real_node_exporter_metrics(tmp_path):
    prometheus = tool("prometheus")
    node_exporter = tool("prometheus-node-exporter")
    node_port, prom_port = free_port(), free_port()
    rules = tmp_path / "platform.rules.yaml"
    _fast_copy("platform.rules.yaml", rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "node-exporter", "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    node_args = [
        node_exporter,
        f"--web.listen-address=127.0.0.1:{node_port}",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.meminfo",
    ]
    prom_args = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--storage.tsdb.retention.time=1h",
    ]
    base = f"http://127.0.0.1:{prom_port}"
    with running(node_args, tmp_path / "node.log", f"http://127.0.0.1:{node_port}/metrics"), running(
        prom_args, tmp_path / "prometheus.log", f"{base}/-/ready"
    ):
        cpu = wait_until(lambda: prom_query(base, "dataops:cluster:cpu_usage_ratio"), 30, "CPU usage ratio")
        memory = wait_until(lambda: prom_query(base, "dataops:cluster:memory_usage_ratio"), 30, "memory usage ratio")
        assert 0.0 <= float(cpu[0]["value"][1]) <= 1.0
        assert 0.0 < float(memory[0]["value"][1]) < 1.0

        # No platform targets are scraped here: no layer has a series (the platform mean is
        # empty, not 0) and DataOpsLayerNoTargets is pending for every layer of the file.
        def pending_layers():
            alerts = json.loads(http_get(f"{base}/api/v1/alerts"))["data"]["alerts"]
            found = {a["labels"]["layer"] for a in alerts if a["labels"].get("alertname") == "DataOpsLayerNoTargets"}
            return found if {"spark", "airflow", "trino", "iceberg", "storage"} <= found else None

        wait_until(pending_layers, 30, "DataOpsLayerNoTargets pending for every layer")
        assert prom_query(base, "dataops:platform:availability:by_layer") == []
        assert prom_query(base, "dataops:platform:availability") == []

        # Every shipped rule was loaded and evaluated without error.
        groups = json.loads(http_get(f"{base}/api/v1/rules"))["data"]["groups"]
        evaluated = [r for g in groups for r in g["rules"]]
        shipped = [r for g in load_rule_file(RULES_DIR / "platform.rules.yaml")["groups"] for r in g["rules"]]
        assert len(evaluated) == len(shipped)
        assert [r["name"] for r in evaluated if r["health"] != "ok"] == []
