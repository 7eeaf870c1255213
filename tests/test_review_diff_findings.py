"""make diff on three changes a reviewer tried: what the report must show.

1. A Trino threshold changed 5 -> 20 in the expression only: every copy of 5 in the alert's
   annotation, runbook and promtool test is listed with file and line.
2. A Hive Metastore layer turned on in staging: the Probe says what it probes, with which
   module and prober, and that the blackbox_exporter it goes through arrives with this change
   (and from which component).
3. A new stack: no "window ?", no empty "" path, no secrets of layers the stack does not deploy.

Renders are made in-process from the working tree's program (tools.render.render) with
stack files written to tmp_path; the sources a report quotes come from the working tree.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tools import review_diff as rd
from tools.render import render
from tools.review_diff.model import SOURCE_GLOBS
from tools.review_diff.stale import changed_numbers, number_pattern
from tools.stack_files import stack_file as sample_stack_file  # the sample under tests/stacks/samples (tests/conftest.py)

HIVE = {"dataops-monitoring:hiveMetastoreThriftAddress": "hive-metastore.hive.svc:9083",
        "dataops-monitoring:hiveMetastoreNamespace": "hive"}


def sources(root: Path = ROOT) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for g in SOURCE_GLOBS for p in sorted(root.glob(g))}


def render_with(tmp_path: Path, stack: str, extra: dict) -> dict:
    document = yaml.safe_load(sample_stack_file(stack).read_text())
    document.setdefault("config", {}).update(extra)
    stack_file = tmp_path / f"{stack}-{len(extra)}.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    path, _ = render(stack, tmp_path / f"out-{stack}-{len(extra)}", stack_file)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def staging(tmp_path_factory) -> dict:
    return render_with(tmp_path_factory.mktemp("staging"), "staging", {})


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


def line_of(path: str, needle: str) -> int:
    return next(n for n, line in enumerate((ROOT / path).read_text().splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- 1. stale numbers


def test_number_pattern_matches_whole_numbers_and_percentages():
    five = number_pattern("5")
    assert five.search("쿼리가 5개 넘게") and five.search("more than 5.") and five.search("> 5")
    assert not any(five.search(s) for s in ("15 queries", "0.5", "p95", "5m", "10.42.5.6"))
    assert number_pattern("0.1").search("above 10 % for 15 min") and number_pattern("0.1").search("> 0.1")
    assert changed_numbers("sum(x) > 5", "sum(x) > 20") == ["5"]
    assert changed_numbers("rate(x[5m]) > 5", "rate(x[5m]) > 6") == ["5"]
    assert changed_numbers("x > 5", "x > 5 and y > 1") == []


def test_threshold_change_lists_every_old_copy_with_file_and_line(staging):
    head = copy.deepcopy(staging)
    rules = next(r for r in head["resources"] if r["name"] == "dataops-trino" and r["type"].endswith("PrometheusRule"))
    alert = next(rule for g in rules["inputs"]["spec"]["groups"] for rule in g["rules"] if rule.get("alert") == "TrinoSlowQueries")
    assert alert["expr"].endswith("> 5")
    alert["expr"] = alert["expr"][:-1] + "20"
    files = sources()
    files["rules/trino.rules.yaml"] = files["rules/trino.rules.yaml"].replace(
        "(trino_execution_name_QueryManager_QueuedQueries) > 5", "(trino_execution_name_QueryManager_QueuedQueries) > 20")
    text, changed = rd.report(rd.Render("base", staging), rd.Render("head", head, files), "staging")
    assert changed
    stale = section(text, "Numbers still showing the old value")
    expected = {
        ("annotation", "rules/trino.rules.yaml", line_of("rules/trino.rules.yaml", "쿼리가 5개 넘게")),
        ("runbook", "docs/runbooks/TrinoSlowQueries.md", line_of("docs/runbooks/TrinoSlowQueries.md", "5개 넘게")),
        ("promtool test", "rules/tests/trino-alerts.test.yaml", line_of("rules/tests/trino-alerts.test.yaml", "쿼리가 5개 넘게")),
    }
    found = set(re.findall(r"\| `TrinoSlowQueries` \| \*\*`5`\*\* \| ([a-z ]+) \| `([^`]+):(\d+)` \|", stale))
    assert {(w, p, int(n)) for w, p, n in found} == expected
    assert "> 20" not in stale, "the new expression is not a stale copy"
    # The threshold also shows in bold in the Alerts section, as before.
    assert "**5 → 20**" in section(text, "Alerts")


def test_no_stale_section_when_every_copy_was_updated(staging):
    head = copy.deepcopy(staging)
    rules = next(r for r in head["resources"] if r["name"] == "dataops-trino" and r["type"].endswith("PrometheusRule"))
    alert = next(rule for g in rules["inputs"]["spec"]["groups"] for rule in g["rules"] if rule.get("alert") == "TrinoSlowQueries")
    alert["expr"] = alert["expr"][:-1] + "20"
    files = {k: (v.replace("5개", "20개") if "rino" in k else v) for k, v in sources().items()}
    text, _ = rd.report(rd.Render("base", staging), rd.Render("head", head, files), "staging")
    assert "Numbers still showing the old value" not in text


# --------------------------------------------------------------------------- 2. targets


def test_a_new_probe_shows_its_address_module_prober_and_who_brings_the_exporter(staging, tmp_path):
    head = render_with(tmp_path, "staging", HIVE)
    text, _ = rd.report(rd.Render("base", staging), rd.Render("head", head), "staging")
    targets = section(text, "Scrape targets")
    probe = next(line for line in targets.splitlines() if "Probe `hive-metastore-thrift`" in line)
    assert probe.startswith("- added Probe `hive-metastore-thrift` (HiveMonitoring hive): probes `hive-metastore.hive.svc:9083`")
    assert "module `tcp_connect`" in probe and "blackbox-exporter.monitoring.svc:9115/probe" in probe
    assert "(Service `blackbox-exporter` of PortalMonitoring portal, added in this change)" in probe
    pod_monitor = next(line for line in targets.splitlines() if "PodMonitor `hive-metastore`" in line)
    assert "`app.kubernetes.io/name=hive-metastore`" in pod_monitor and "namespace hive" in pod_monitor
    resources = section(text, "Resources")
    assert "| added | `kubernetes:apps/v1:Deployment` | `blackbox-exporter` | PortalMonitoring portal |" in resources


def test_a_scrape_config_shows_its_targets(staging):
    head = copy.deepcopy(staging)
    head["resources"].append({
        "type": "kubernetes:monitoring.coreos.com/v1:ScrapeConfig", "name": "powerscale",
        "parent": "dataops:monitoring:PowerScaleMonitoring::powerscale", "dependencies": [], "secretInputs": [],
        "inputs": {"spec": {"staticConfigs": [{"targets": ["gostats.storage.example.com:9443"]}], "metricsPath": "/metrics",
                            "scheme": "HTTPS", "scrapeInterval": "60s"}}})
    text, _ = rd.report(rd.Render("base", staging), rd.Render("head", head), "staging")
    line = next(x for x in section(text, "Scrape targets").splitlines() if "powerscale" in x)
    assert line == ("- added ScrapeConfig `powerscale` (PowerScaleMonitoring powerscale): scrapes "
                    "`gostats.storage.example.com:9443` at `/metrics` (HTTPS, every 60s)")


# --------------------------------------------------------------------------- 3. a new stack


def test_a_new_stack_has_no_glitches(staging, tmp_path):
    (tmp_path / "docs" / "runbooks").mkdir(parents=True)
    (tmp_path / "docs" / "runbooks" / "SomeAlert.md").write_text("# SomeAlert\n")
    empty = rd.render_tree(tmp_path, "staging", "base")  # a tree without the stack file
    assert empty.document["resources"] == []
    assert empty.files == {"docs/runbooks/SomeAlert.md": "# SomeAlert\n"}, "the sources come with the render"
    text, _ = rd.report(empty, rd.Render("head", staging), "staging")
    assert "window `?`" not in text and "`\"\"`" not in text
    slos = section(text, "SLOs")
    assert re.findall(r"- added: `[^`]+` \(objective `[^`]+`, window `([^`]+)`\)", slos) == ["30d", "30d"]
    secrets = section(text, "Secrets")
    for unused in staging["unusedSecrets"]:
        assert unused not in text, f"{unused}: the stack does not deploy its layer"
    assert "pagerdutyRoutingKey" in secrets and "is read by this stack" in secrets
    assert "## Stack outputs" in text and "*(removed, was)*" not in section(text, "Stack outputs")


def test_a_new_prod_stack_names_the_freshness_window(tmp_path):
    prod = render_with(tmp_path, "prod", {})
    empty = rd.Render("base", {"stack": "prod", "resources": [], "outputs": {}})
    slos = section(rd.report(empty, rd.Render("head", prod), "prod")[0], "SLOs")
    assert "- added: `data-freshness` (objective `0.99`, window `30d`)" in slos
    assert "window `?`" not in slos


def test_render_lists_the_secrets_no_resource_reads(staging, tmp_path):
    assert set(staging["unusedSecrets"]) == {f"dataops-monitoring:{k}" for k in ("bitbucketToken", "oracleDsn", "powerscaleExporterPassword")}
    with_bitbucket = render_with(tmp_path, "staging", {
        "dataops-monitoring:bitbucketMetricsUrl": "https://bitbucket.example.com/plugins/servlet/prometheus/metrics"})
    assert "dataops-monitoring:bitbucketToken" not in with_bitbucket["unusedSecrets"]
