"""Every workload domain can be turned off, and storage can be a cloud S3 without MinIO metrics.

A stack that turns Spark, Trino and MinIO off (tests/stacks/Pulumi.lean.yaml) renders none of
their objects or rules, and its platform availability counts only the layers it deploys: with
those healthy, promtool shows no platform alert. Turned on (the default), everything is there.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from components.storage import MINIO_KEEP, MINIO_RULES
from core.rules import RULES_DIR, load_rule_file
from rules_util import iter_rules, promql_metric_names
from tests.live import tool
from tools.mock_engine import ProgramRun, run_program, stack_config

LEAN = Path(__file__).parent / "stacks" / "Pulumi.lean.yaml"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
BY_LAYER = "dataops:platform:availability:by_layer"


def _run(path: Path, stack: str, **overrides) -> ProgramRun:
    config, keys = stack_config(stack, placeholder_secrets=False, path=path, overrides={f"dataops-monitoring:{k}": v for k, v in overrides.items()})
    return run_program(stack, config, keys)


@pytest.fixture(scope="module")
def lean() -> ProgramRun:
    return _run(LEAN, "lean")


@pytest.fixture(scope="module")
def full() -> ProgramRun:
    return _run(LEAN, "lean", sparkEnabled=True, trinoEnabled=True, minioEnabled=True)


def _rules(run: ProgramRun) -> dict[str, list]:
    return {r.name: r.inputs["spec"]["groups"] for r in run.by_type(RULE)}


def _counted_layers(run: ProgramRun) -> list[str]:
    groups = _rules(run)["dataops-platform"]
    expr = next(r["expr"] for g in groups for r in g["rules"] if r.get("record") == BY_LAYER)
    return re.findall(r'vector\(0\), "layer", "([a-z]+)"', expr)


def test_turned_off_workloads_leave_nothing(lean):
    types = {r.type for r in lean.registrations}
    assert "dataops:monitoring:SparkMonitoring" not in types and "dataops:monitoring:TrinoMonitoring" not in types
    assert {"dataops-spark", "dataops-jvm", "dataops-trino"}.isdisjoint(_rules(lean))
    assert "minio" not in {r.name for r in lean.by_type(MONITOR)}
    names = {r.get("record") or r.get("alert") for g in _rules(lean)["dataops-storage"] for r in g["rules"]}
    assert names.isdisjoint(MINIO_RULES) and "StorageCapacityLow" in names  # volumes are watched on S3 too
    assert _counted_layers(lean) == ["airflow"]


def test_turned_on_they_are_all_there(full):
    assert {"dataops-spark", "dataops-jvm", "dataops-trino", "dataops-storage"} <= set(_rules(full))
    assert "minio" in {r.name for r in full.by_type(MONITOR)}
    assert _counted_layers(full) == ["spark", "airflow", "trino", "storage"]


def test_the_minio_rule_list_is_complete():
    """Every storage rule that reads MinIO (minio_* series, dataops:s3:*, MinIO's job) is in MINIO_RULES, and only those."""
    rules = [r for g in load_rule_file(RULES_DIR / "storage.rules.yaml")["groups"] for r in g["rules"]]
    reads_minio = {r.get("record") or r.get("alert") for r in rules if re.search(r'\bminio_[a-z]|dataops:s3:|job=~"[^"]*minio', r["expr"]) or (r.get("record") or "").startswith("dataops:s3:")}
    assert reads_minio == MINIO_RULES


def _minio_names_read_by_rules() -> set[str]:
    return {n for _, _, rule in iter_rules() for n in promql_metric_names(rule["expr"]) if n.startswith("minio_")}


def test_minio_keep_list_keeps_every_minio_series_the_rules_read(full):
    """The ServiceMonitor's keep-list drops every MinIO series it does not match: a rule on a
    dropped series (minio_cluster_health_* before MinIOErasureSetQuorumLost) never fires."""
    read = _minio_names_read_by_rules()
    assert "minio_cluster_health_erasure_set_status" in read and len(read) >= 8, sorted(read)
    dropped = sorted(n for n in read if not re.fullmatch(MINIO_KEEP, n))
    assert not dropped, f"read by rules/*.rules.yaml but dropped by MINIO_KEEP: {dropped}"
    monitor = next(r for r in full.by_type(MONITOR) if r.name == "minio")
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    assert endpoint["metricRelabelings"] == [{"sourceLabels": ["__name__"], "regex": MINIO_KEEP, "action": "keep"}]


def test_the_keep_list_check_catches_a_dropped_name():
    old_keep = r"minio_(s3_requests_.+|cluster_(capacity|nodes|drive)_.+)"  # main before cluster_health_*
    assert [n for n in sorted(_minio_names_read_by_rules()) if not re.fullmatch(old_keep, n)] == ["minio_cluster_health_erasure_set_status"]


def _promtool_case(tmp_path: Path, run: ProgramRun, series: list[dict], alerts: list[dict]) -> subprocess.CompletedProcess:
    rules = tmp_path / "platform.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rules(run)["dataops-platform"]}, allow_unicode=True), encoding="utf-8")
    test = tmp_path / "platform.test.yaml"
    test.write_text(
        yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "30s", "tests": [{"interval": "30s", "input_series": series, "alert_rule_test": alerts}]}),
        encoding="utf-8",
    )
    return subprocess.run([tool("promtool"), "test", "rules", str(test)], capture_output=True, text=True, timeout=120)


def test_no_platform_alert_when_the_deployed_layers_are_healthy(lean, tmp_path):
    healthy = [{"series": 'up{job="airflow-statsd-exporter"}', "values": "1x40"}]
    proc = _promtool_case(tmp_path, lean, healthy, [{"eval_time": "15m", "alertname": "DataOpsPlatformDown", "exp_alerts": []}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    down = [{"series": 'up{job="airflow-statsd-exporter"}', "values": "0x40"}]
    proc = _promtool_case(tmp_path, lean, down, [{"eval_time": "15m", "alertname": "DataOpsPlatformDown", "exp_alerts": []}])
    assert proc.returncode != 0, "the same test must fail when the one deployed layer is down"
