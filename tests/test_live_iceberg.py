"""The Iceberg path end to end on 127.0.0.1: real pyiceberg tables -> our exporter (a real
process) -> a real Prometheus running our storage rules and the data-freshness SLI.

The recording rule must equal the small-file share computed independently from the tables'
files, and the freshness SLI (from settings, as deployed) must count a listed table that
does not exist as stale.
"""

from __future__ import annotations

import sys

import pytest
import yaml

from core.rules import RULES_DIR, load_rule_file
from components.slo.settings import _freshness_slo
from tests.iceberg_fixtures import LocalCatalog, expected_state, rows
from tests.live import free_port, prom_query, running, tool, wait_until

pytestmark = pytest.mark.live

SMALL_FILE_BYTES = 4096


def test_small_files_ratio_and_freshness_from_a_real_exporter(tmp_path):
    prometheus = tool("prometheus")
    local = LocalCatalog(tmp_path / "catalog")
    events = local.create("sales.events")
    for start in range(3):  # three tiny files
        events.append(rows(start * 10, 10))
    orders = local.create("sales.orders")
    orders.append(rows(0, 200, payload_bytes=200))  # one file well over the threshold
    states = [expected_state(local.catalog.load_table(t), SMALL_FILE_BYTES) for t in ("sales.events", "sales.orders")]
    expected_ratio = sum(s.small_files for s in states) / sum(s.data_files for s in states)
    assert 0 < expected_ratio < 1, states  # the data must exercise both sides

    exporter_port, prom_port = free_port(), free_port()
    exporter = [
        sys.executable, "-m", "exporters.iceberg",
        "--catalog-type", "sql", "--catalog-uri", local.uri, "--warehouse", local.warehouse,
        "--listen-address", "127.0.0.1", "--port", str(exporter_port),
        "--interval", "1s", "--small-file-bytes", str(SMALL_FILE_BYTES),
    ]
    rules = load_rule_file(RULES_DIR / "iceberg.rules.yaml")
    for group in rules["groups"]:
        group["interval"] = "1s"
    (tmp_path / "iceberg.rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "iceberg.rules.yaml")],
        "scrape_configs": [{"job_name": "iceberg-exporter", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_args = [
        prometheus,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    base = f"http://127.0.0.1:{prom_port}"
    with running(exporter, tmp_path / "exporter.log", f"http://127.0.0.1:{exporter_port}/metrics", timeout=60), running(
        prom_args, tmp_path / "prometheus.log", f"{base}/-/ready"
    ):
        def ratio():
            result = prom_query(base, "dataops:iceberg:small_files_ratio")
            return result and abs(float(result[0]["value"][1]) - expected_ratio) < 1e-9

        wait_until(ratio, 60, f"dataops:iceberg:small_files_ratio == {expected_ratio}")

        # The freshness SLI exactly as settings builds it: two real fresh tables, one listed
        # table that does not exist (counted stale, not silently dropped).
        freshness = _freshness_slo(("sales.events", "sales.orders", "sales.missing"), 6 * 3600)
        # A 10s window at 1s steps instead of the burn-rate windows, so the test stays short.
        expr = freshness["errorRatio"].replace("${window}", "10s").replace("${step}", "1s")

        def stale_share():
            result = prom_query(base, expr)
            return result and abs(float(result[0]["value"][1]) - 1 / 3) < 1e-9

        wait_until(stale_share, 60, "freshness error ratio 1/3 (one missing table of three)")
