"""The seven DataOps dashboards (dashboards/) and their ConfigMaps (components/dashboards.py)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

import dashboards
from components.dashboards import CONFIGMAP_LIMIT_BYTES, config_map_name
from components.prometheus_stack import DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL
from components.dashboards import DEFAULT_INPUTS, freshness_max_age_s
from components.gitops import JENKINS_KEEP
from components.slo import rules as slo_rules
from dashboards import annotations, lib, thresholds
from dashboards import d02_resource_capacity as d02
from dashboards import d03_workload_execution as d03
from dashboards import d04_data_pipeline as d04
from tests.live import tool
from rules_util import iter_rules, load_catalog, load_rule_files, promql_metric_names, recorded_names

ROOT = Path(__file__).resolve().parents[1]
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
MIN_PANELS = 6  # visualisation panels (rows and text not counted)
MODULES = dashboards.DASHBOARDS
IDS = [m.__name__.rsplit(".", 1)[-1] for m in MODULES]


@pytest.fixture(scope="module")
def models() -> dict[str, dict]:
    return {m.NUMBER: m.build(DEFAULT_INPUTS) for m in MODULES}


def _panels(model: dict) -> list[dict]:
    out = []
    for panel in model["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _viz(model: dict) -> list[dict]:
    return [p for p in _panels(model) if p["type"] not in ("row", "text")]


_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def _reads(expr: str) -> set[str]:
    """Metric names a panel expr or a ``label_values(selector, label)`` variable query reads."""
    m = _LABEL_VALUES.match(expr)
    # Grafana's $__interval etc. become durations first (offset $__interval is not a name).
    return promql_metric_names(_concrete(m.group("selector") if m else expr))


def _all_queries(model: dict) -> list[tuple[str, str]]:
    """Every PromQL a dashboard runs: panel targets, variable queries and annotation queries."""
    return lib.panel_exprs(model) + lib.variable_queries(model) + lib.annotation_exprs(model)


# ------------------------------------------------------------------------------ structure


def test_registry_holds_the_guides_seven_dashboards_in_order():
    assert [m.NUMBER for m in MODULES] == ["00", "01", "02", "03", "04", "05", "06"]
    assert [dashboards.info(m).file_name for m in MODULES] == [
        "00-dataops-main-navigation.json",
        "01-dataops-gitops-pipeline.json",
        "02-dataops-resource-capacity.json",
        "03-dataops-workload-execution.json",
        "04-dataops-data-pipeline.json",
        "05-dataops-optimization.json",
        "06-dataops-e2e-analytics.json",
    ]


def test_uids_and_titles_are_unique_stable_and_bilingual(models):
    uids = [m["uid"] for m in models.values()]
    titles = [m["title"] for m in models.values()]
    assert len(set(uids)) == 7 and len(set(titles)) == 7
    for number, model in models.items():
        info = lib.INDEX[number]
        assert model["uid"] == info.uid and model["uid"].startswith(f"dataops-{number}-")
        assert len(model["uid"]) <= 40  # Grafana's uid limit
        assert model["title"] == info.title
        assert re.search(r"[\uac00-\ud7a3]", model["title"]), "title needs the Korean name"
        assert re.search(r"\([A-Za-z&\- ]+\)$", model["title"]), "title needs the English name"
        assert "dataops" in model["tags"] and len(model["tags"]) >= 2
        assert model.get("description")


def test_every_dashboard_has_a_prometheus_datasource_variable_used_by_every_query(models):
    for number, model in models.items():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        ds = variables.get("datasource")
        assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", number
        # No datasource uid is hard-coded: Grafana preselects its default (Prometheus or Thanos).
        assert "current" not in ds or not ds["current"], number
        for panel in _viz(model):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (number, panel["title"])
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == "${datasource}", (number, panel["title"])
        for var in variables.values():
            if var["type"] == "query":
                assert var["datasource"]["uid"] == "${datasource}", (number, var["name"])
        assert "cluster" in variables, number


def test_namespace_variables_where_workloads_are_shown(models):
    for number in ("02", "03", "05"):
        names = {v["name"] for v in models[number]["templating"]["list"]}
        assert "namespace" in names, number


def test_enough_panels_with_ids_titles_units_and_targets(models):
    for number, model in models.items():
        viz = _viz(model)
        assert len(viz) >= MIN_PANELS, (number, len(viz))
        ids = [p["id"] for p in _panels(model)]
        assert len(ids) == len(set(ids)), number
        for panel in viz:
            assert panel["title"], number
            assert panel["fieldConfig"]["defaults"].get("unit"), (number, panel["title"])
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert panel["targets"] and all(ref_ids) and len(ref_ids) == len(set(ref_ids)), (number, panel["title"])


def test_panels_fit_the_24_column_grid(models):
    for number, model in models.items():
        for panel in _panels(model):
            g = panel["gridPos"]
            assert 0 < g["w"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (number, panel["title"], g)


def test_main_navigation_links_to_every_other_dashboard(models):
    content = next(p for p in models["00"]["panels"] if p["type"] == "text")["options"]["content"]
    for number, info in lib.INDEX.items():
        if number != "00":
            assert f"({info.path}?" in content, number
    for number, model in models.items():
        assert any(link["type"] == "dashboards" and link["tags"] == ["dataops"] for link in model["links"]), number


def test_main_navigation_shows_availability_error_budget_and_firing_alerts(models):
    exprs = " ".join(e for _, e in lib.panel_exprs(models["00"]))
    assert "dataops:platform:availability:by_layer" in exprs
    assert "dataops:slo:error_budget_remaining" in exprs
    assert 'ALERTS{alertstate="firing"' in exprs


# ------------------------------------------------------------------------------ metrics


def test_every_metric_a_dashboard_reads_is_catalogued_or_recorded(models):
    # ALERTS and up are Prometheus' own series; the catalog lists them (docs/metrics/prometheus.yaml).
    catalog = load_catalog()
    assert {"up", "ALERTS"} <= set(catalog)
    known = set(catalog) | recorded_names()
    problems = []
    for number, model in models.items():
        for where, expr in _all_queries(model):
            for name in sorted(_reads(expr) - known):
                problems.append(f"{number} {where}: {name}")
    assert not problems, "metric names with no catalogued source:\n" + "\n".join(problems)


def test_dashboards_prefer_recording_rules(models):
    recorded = recorded_names()
    for number, model in models.items():
        used = set().union(*(_reads(e) for _, e in lib.panel_exprs(model)))
        assert used & recorded, f"{number} reads no recording rule"
    # The SLO dashboard reads only what the SLO rules record.
    slo = {n for n in set().union(*(_reads(e) for _, e in lib.panel_exprs(models["06"]))) if n.startswith("dataops:slo:")}
    assert slo and slo <= recorded


def test_the_checker_catches_an_unknown_name():
    known = set(load_catalog()) | recorded_names()
    assert _reads('label_values(spark_job_active_count{cluster=~"$cluster"}, namespace)') - known == {"spark_job_active_count"}
    assert _reads("sum(spark_job_failed_total)") - known == {"spark_job_failed_total"}


def test_no_high_cardinality_label_in_group_bys(models):
    by = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
    for number, model in models.items():
        for where, expr in lib.panel_exprs(model):
            for labels in by.findall(expr):
                assert "executor_id" not in labels, (number, where)
                # pod only in bounded top-k tables
                if "pod" in [x.strip() for x in labels.split(",")]:
                    assert expr.lstrip().startswith("topk("), (number, where)
            assert "executor_id" not in expr or "executor_id!" in expr, (number, where)


# ------------------------------------------------------------------------------ thresholds


def _threshold_values(panel: dict) -> set[float]:
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    return {s["value"] for s in steps if s["value"] is not None}


def _panel_reading(model: dict, metric: str) -> list[dict]:
    return [p for p in _viz(model) if any(metric in _reads(t["expr"]) for t in p["targets"])]


def _alert_threshold(metric: str) -> float | None:
    """``<metric> > x`` / ``< x`` in an alert of rules/*.rules.yaml, if some alert has it.

    Parsed here independently of dashboards/thresholds.py, so the two readings check each other.
    """
    pattern = re.compile(re.escape(metric) + r"(?:\{[^}]*\})?\s*[<>]=?\s*([0-9.]+)")
    for _, _, rule in iter_rules():
        if "alert" in rule:
            m = pattern.search(rule["expr"])
            if m:
                return float(m.group(1))
    return None


def _shows(panel: dict, value: float) -> bool:
    """The panel colours at ``value`` or filters its query on it (``> 0.9``)."""
    exprs = " ".join(t["expr"] for t in panel["targets"])
    return value in _threshold_values(panel) or re.search(rf"[<>]=?\s*{re.escape(f'{value:g}')}\b", exprs) is not None


# (dashboard, a metric whose alert threshold its panels show)
ALERT_PANELS = [
    ("00", "dataops:platform:availability"),
    ("00", "dataops:slo:error_budget_remaining"),
    ("06", "dataops:platform:availability"),
    ("02", "dataops:cluster:cpu_usage_ratio"),
    ("02", "dataops:cluster:memory_usage_ratio"),
    ("02", "dataops:storage:volume_usage_ratio"),
    ("04", "dataops:iceberg:table_small_files_ratio"),
    ("05", "dataops:iceberg:table_small_files_ratio"),
    ("03", "dataops:spark:failure_ratio_10m"),
    ("03", "dataops:trino:platform_failure_rate_5m"),
    ("06", "dataops:trino:platform_failure_rate_5m"),
    ("03", "dataops:trino:worker_availability"),
    ("03", "dataops:jvm:heap_used_ratio"),
    ("02", "dataops:ceph:pool_used_ratio"),
    ("02", "dataops:oracle:tablespace_used_ratio"),
    ("02", "dataops:powerscale:capacity_used_ratio"),
    ("04", "dataops:hive:api_duration_seconds:p99_max"),
    ("04", "dataops:hive:directsql_errors:rate5m"),
    ("01", "dataops:bitbucket:git_request_failure_ratio_15m"),
]


@pytest.mark.parametrize("number,metric", ALERT_PANELS)
def test_panels_turn_red_where_the_alert_in_the_rule_file_fires(models, number, metric):
    value = _alert_threshold(metric)
    assert value is not None, f"no alert compares {metric} with a number in rules/"
    panels = _panel_reading(models[number], metric)
    # Oracle: the alert covers PERMANENT tablespaces; UNDO/TEMP drain by design and show no line.
    panels = [p for p in panels if 'type=~"UNDO|TEMPORARY"' not in " ".join(t["expr"] for t in p["targets"])]
    assert panels, (number, metric)
    for panel in panels:
        assert _shows(panel, value), (number, panel["title"], metric, value, sorted(_threshold_values(panel)))


def test_oom_panel_and_burn_panels_follow_their_rules(models):
    oom = next(p for p in _viz(models["05"]) if p["title"].startswith("OOM Kill (per namespace"))
    platform = (ROOT / "rules" / "platform.rules.yaml").read_text()
    assert re.search(r"\) > 3\n", platform) and _threshold_values(oom) == {3}
    burn = [p for p in _viz(models["06"]) if "(Burn rate," in p["title"]]
    assert [sorted(_threshold_values(p)) for p in burn] == [[p.factor] for p in slo_rules.POLICIES]
    assert [p["title"].split()[2] for p in burn] == [f"{p.long_window}/{p.short_window}" for p in slo_rules.POLICIES]


def _copy_rules(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    for name, (old, new) in edits.items():
        path = rules / name
        text = path.read_text()
        assert text.count(old) == 1, (name, old)
        path.write_text(text.replace(old, new))
    return rules


def test_changing_a_number_in_a_rule_file_changes_the_dashboards(tmp_path, monkeypatch):
    """One source: the dashboards follow an edited copy of rules/ without any other change."""
    before_03, before_02 = d03.build(DEFAULT_INPUTS), d02.build(DEFAULT_INPUTS)
    copy = _copy_rules(
        tmp_path,
        {
            "jvm.rules.yaml": ("dataops:jvm:heap_used_ratio > 0.9", "dataops:jvm:heap_used_ratio > 0.75"),
            "platform.rules.yaml": ("dataops:cluster:cpu_usage_ratio > 0.85", "dataops:cluster:cpu_usage_ratio > 0.8"),
            "ceph.rules.yaml": ("dataops:ceph:pool_used_ratio > 0.85", "dataops:ceph:pool_used_ratio > 0.8"),
        },
    )
    monkeypatch.setattr(thresholds, "RULES_DIR", copy)
    after_03, after_02 = d03.build(DEFAULT_INPUTS), d02.build(DEFAULT_INPUTS)
    for model, metric, old, new in (
        (after_03, "dataops:jvm:heap_used_ratio", 0.9, 0.75),
        (after_02, "dataops:cluster:cpu_usage_ratio", 0.85, 0.8),
        (after_02, "dataops:ceph:pool_used_ratio", 0.85, 0.8),
    ):
        for panel in _panel_reading(model, metric):
            assert _shows(panel, new) and not _shows(panel, old), (panel["title"], metric)
    # Nothing else moved: the heap count query and the descriptions follow, other panels stay.
    heap_stat = next(p for p in _viz(after_03) if p["title"].startswith("힙 압박 JVM"))
    assert "> 0.75)" in heap_stat["targets"][0]["expr"] and "75 %" in heap_stat["description"]
    assert after_03 != before_03 and after_02 != before_02
    monkeypatch.undo()
    assert d03.build(DEFAULT_INPUTS) == before_03 and d02.build(DEFAULT_INPUTS) == before_02


def test_threshold_reader_refuses_ambiguous_or_missing_alerts(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "Two", "expr": 'a{job=~"a>1"} > 0.5 and b < 2'}]}]})
    )
    with pytest.raises(ValueError, match="expected one threshold"):
        thresholds.alert_threshold("x", "Two", rules_dir=rules)
    assert thresholds.alert_threshold("x", "Two", "a", rules_dir=rules) == 0.5
    assert thresholds.alert_threshold("x", "Two", "b", rules_dir=rules) == 2
    with pytest.raises(LookupError):
        thresholds.alert_threshold("x", "Missing", rules_dir=rules)


def test_bitbucket_availability_reads_the_targets_bitbucket_down_watches(models):
    rule = next(r for p, _, r in iter_rules() if p.name == "bitbucket.rules.yaml" and r.get("alert") == "BitbucketDown")
    selector = re.search(r"up\{([^}]*)\}", rule["expr"]).group(1)
    [panel] = [p for p in _viz(models["01"]) if "up" in _reads(p["targets"][0]["expr"])]
    assert f"up{{{selector}, " in panel["targets"][0]["expr"]


# ------------------------------------------------------------------------------ freshness (stack setting)


def test_freshness_limit_comes_from_the_stacks_slo_settings():
    from tests.settings_util import load

    two_hours = load({"environment": "staging", "clusterName": "x", "thanosEnabled": False, "sloFreshnessTables": ["sales.orders"], "sloFreshnessMaxAge": "2h"})
    assert freshness_max_age_s(two_hours.slos) == 7200
    # No data-freshness SLO: the setting's declared default (6h), as an int like the settings give.
    plain = load({"environment": "staging", "clusterName": "x", "thanosEnabled": False})
    assert freshness_max_age_s(plain.slos) == 21600 and isinstance(freshness_max_age_s(plain.slos), int)
    model = d04.build(dataclasses.replace(DEFAULT_INPUTS, freshness_max_age_s=7200))
    stale = next(p for p in _viz(model) if p["title"].startswith("신선도 초과 테이블"))
    assert "> 7200)" in stale["targets"][0]["expr"] and "2 h" in stale["description"]
    age = next(p for p in _viz(model) if p["title"].startswith("마지막 업데이트 이후 시간"))
    assert _threshold_values(age) == {7200}


def test_freshness_setting_reaches_the_deployed_dashboard(run_stack):
    from tests.conftest import with_secrets

    run = run_stack("prod", {**with_secrets(), "dataops-monitoring:sloFreshnessMaxAge": "90m"})
    text = run.one(CONFIG_MAP, config_map_name("04-dataops-data-pipeline.json")).inputs["data"]["04-dataops-data-pipeline.json"]
    assert "> 5400)" in text and "90 min" in text and "> 21600)" not in text


# ------------------------------------------------------------------------------ JSON


def test_json_is_deterministic():
    first = dashboards.rendered(DEFAULT_INPUTS)
    second = dashboards.rendered(DEFAULT_INPUTS)
    assert first == second
    for name, text in first:
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n", name
    # Same inputs, same bytes; other inputs change only the dashboard that uses them.
    two_h = dataclasses.replace(DEFAULT_INPUTS, freshness_max_age_s=7200)
    assert dashboards.rendered(two_h) == dashboards.rendered(two_h)
    changed = [a[0] for a, b in zip(first, dashboards.rendered(two_h)) if a != b]
    assert changed == ["04-dataops-data-pipeline.json"]


def test_dashboards_round_trip_through_the_sdk_model(models):
    """The Python SDK has no JSON-schema validator; its typed model is the schema it offers.

    Parsing the JSON back into ``dashboard.Dashboard`` and encoding it again must give the
    same document: a field the Grafana 11.6 model does not know would be dropped on the way.
    (Value types are not checked by the SDK; the builders' typed setters cover those.)
    """
    for number, model in models.items():
        back = dm.Dashboard.from_json(json.loads(json.dumps(model)))
        again = json.loads(json.dumps(back, cls=JSONEncoder, sort_keys=True))
        # Except the Prometheus annotation formats, which the SDK's generic AnnotationQuery
        # does not model (dashboards/annotations.py adds them): exactly those are dropped.
        expected = json.loads(json.dumps(model))
        for anno in expected["annotations"]["list"]:
            assert set(annotations.PROMETHEUS_KEYS) <= set(anno), (number, anno["name"])
            for key in annotations.PROMETHEUS_KEYS:
                del anno[key]
        assert again == expected, number
        assert model["schemaVersion"] >= 39, number


# ------------------------------------------------------------------------------ promtool

_GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _concrete(expr: str) -> str:
    for var, value in _GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    # Template variables only appear inside regex matchers (=~"$x"): "All" is ".*".
    expr = re.sub(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?", ".*", expr)
    assert "$" not in expr, expr
    return expr


def test_every_panel_expression_is_valid_promql(models, tmp_path: Path):
    promtool = tool("promtool")
    rules = []
    for number, model in models.items():
        for i, (_, expr) in enumerate(lib.panel_exprs(model)):
            rules.append({"record": f"dashboard_{number}_{i}", "expr": _concrete(expr)})
        for i, (_, expr) in enumerate(lib.annotation_exprs(model)):
            rules.append({"record": f"dashboard_{number}_annotation_{i}", "expr": _concrete(expr)})
    assert sum(r["record"].count("_annotation_") for r in rules) == 7 * 3
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=True))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rejects_invalid_promql(tmp_path: Path):
    # The check above can fail: the guide's Trino expression is rejected.
    promtool = tool("promtool")
    path = tmp_path / "bad.rules.yaml"
    bad = 'count(trino_query_wall_time_seconds > 600 and trino_query_state == "RUNNING")'
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x", "expr": bad}]}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


# ------------------------------------------------------------------------------ ConfigMaps


def test_one_labelled_configmap_per_dashboard_in_the_monitoring_namespace(prod_run):
    component = prod_run.one("dataops:monitoring:Dashboards", "dashboards")
    prod_inputs = dataclasses.replace(DEFAULT_INPUTS, parts=frozenset())  # prod deploys none of the optional parts
    rendered = dict(dashboards.rendered(prod_inputs))
    assert len(rendered) == 7
    for file_name, text in rendered.items():
        cm = prod_run.one(CONFIG_MAP, config_map_name(file_name))
        meta = cm.inputs["metadata"]
        assert meta["namespace"] == "monitoring"
        assert meta["labels"][DASHBOARD_LABEL] == "1"
        assert meta["annotations"] == {DASHBOARD_FOLDER_ANNOTATION: "DataOps"}
        assert cm.inputs["data"] == {file_name: text}
        assert json.loads(cm.inputs["data"][file_name]) == next(m.build(prod_inputs) for m in MODULES if dashboards.info(m).file_name == file_name)
        assert cm.parent == component.urn
        size = len(json.dumps(cm.inputs).encode())
        assert size < CONFIGMAP_LIMIT_BYTES, (file_name, size)


def test_configmaps_stay_well_under_the_1mib_limit():
    for file_name, text in dashboards.rendered(DEFAULT_INPUTS):
        assert len(text.encode()) < CONFIGMAP_LIMIT_BYTES // 4, file_name


def test_component_registers_outputs_and_waits_for_the_chart(prod_run):
    component = prod_run.one("dataops:monitoring:Dashboards", "dashboards")
    for file_name, _ in dashboards.rendered(DEFAULT_INPUTS):
        cm = prod_run.one(CONFIG_MAP, config_map_name(file_name))
        assert any("kube-prometheus-stack" in d for d in cm.dependencies)
    assert component.name == "dashboards"


def test_same_configmaps_in_staging(staging_run, prod_run):
    for file_name, _ in dashboards.rendered(DEFAULT_INPUTS):
        name = config_map_name(file_name)
        assert staging_run.one(CONFIG_MAP, name).inputs["data"] == prod_run.one(CONFIG_MAP, name).inputs["data"]


def test_every_alert_links_an_existing_dashboard_and_variable():
    """Every deployed alert's dashboard_url is <grafanaUrl>/d/<uid>[?var-x=...] of a dashboard we ship."""
    import re

    from dashboards import DASHBOARDS
    from tests.rules_util import deployed_alerts

    models = {m.build(DEFAULT_INPUTS)["uid"]: m.build(DEFAULT_INPUTS) for m in DASHBOARDS}
    variables = {uid: {v["name"] for v in model.get("templating", {}).get("list", [])} for uid, model in models.items()}
    problems = []
    for file_name, rule in deployed_alerts():
        url = rule["annotations"]["dashboard_url"]
        match = re.match(r"^https://grafana\.dataops\.internal/d/([a-z0-9-]+)(?:\?var-([a-z_]+)=.+)?$", url)
        if not match or match.group(1) not in models:
            problems.append(f"{file_name} {rule['alert']}: {url!r} is not <grafanaUrl>/d/<existing uid>")
        elif match.group(2) and match.group(2) not in variables[match.group(1)]:
            problems.append(f"{file_name} {rule['alert']}: dashboard {match.group(1)} has no variable {match.group(2)}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ change annotations

ANNOTATIONS = ["Argo CD 동기화 (Argo CD syncs)", "Argo CD 동기화 실패 (Argo CD failed syncs)", "Jenkins 배포 빌드 (Jenkins deploy builds)"]
JENKINS_START = "default_jenkins_builds_last_build_start_time_milliseconds"


def test_every_dashboard_carries_the_change_annotations(models):
    for number, model in models.items():
        annos = model["annotations"]["list"]
        assert [a["name"] for a in annos] == ANNOTATIONS, number
        for anno in annos:
            assert anno["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (number, anno["name"])
            assert anno["enable"] is True and anno["hide"] is False and anno["iconColor"], (number, anno["name"])
            assert 'cluster=~"$cluster"' in anno["expr"] and "$__interval" in anno["expr"], (number, anno["name"])
        synced, failed, deploy = annos
        assert _reads(synced["expr"]) == {"argocd_app_sync_total"} and 'phase="Succeeded"' in synced["expr"]
        assert _reads(failed["expr"]) == {"argocd_app_sync_total"} and 'phase=~"Failed|Error"' in failed["expr"]
        for anno in (synced, failed):
            assert 'dry_run!="true"' in anno["expr"] and "{{name}}" in anno["titleFormat"] and anno["tagKeys"] == "project,name"
        assert _reads(deploy["expr"]) == {JENKINS_START} and "{{jenkins_job}}" in deploy["titleFormat"]


def test_annotation_names_are_catalogued_and_the_jenkins_one_names_its_plugin():
    catalog = load_catalog()
    entry = catalog[JENKINS_START]
    assert entry["catalog_file"] == "jenkins.yaml" and "Prometheus metrics plugin" in entry["source"]
    assert "BUILD_START_GAUGE" in entry["verified_against"] and entry["type"] == "gauge"
    assert "argocd_app_sync_total" in catalog


def test_jenkins_annotation_selects_the_deploy_jobs_the_alert_pages_for():
    rule = next(r for p, _, r in iter_rules() if p.name == "gitops.rules.yaml" and r.get("alert") == "JenkinsDeployPipelineFailing")
    assert annotations.JENKINS_DEPLOY_JOBS in rule["expr"]


def test_the_scrape_keeps_what_the_gitops_panels_read(models):
    """Argo CD / Jenkins series a panel or variable reads survive the ServiceMonitors' keep lists."""
    from components.gitops import ARGOCD_KEEP

    catalog = load_catalog()
    keep = {"argocd.yaml": ARGOCD_KEEP, "jenkins.yaml": JENKINS_KEEP}
    problems = []
    for number, model in models.items():
        for where, expr in lib.panel_exprs(model) + lib.variable_queries(model):
            for name in sorted(_reads(expr)):
                source = catalog.get(name, {}).get("catalog_file")
                if source in keep and not re.fullmatch(keep[source], name):
                    problems.append(f"{number} {where}: {name} is dropped by components/gitops' keep list")
    assert not problems, "\n".join(problems)


def test_the_scrape_keeps_what_the_annotations_read():
    assert re.fullmatch(JENKINS_KEEP, JENKINS_START)


def _promtool_test(tmp_path: Path, series: list[dict], tests: list[dict]) -> subprocess.CompletedProcess:
    (tmp_path / "empty.rules.yaml").write_text("groups: []\n")
    doc = {
        "rule_files": ["empty.rules.yaml"],
        "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": series, "promql_expr_test": tests}],
    }
    path = tmp_path / "annotations.test.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([tool("promtool"), "test", "rules", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def _values(samples: list[int]) -> str:
    return " ".join(str(v) for v in samples)


def _steps(expr: str, samples: list[int], labels: str, minutes: int, shows_value: bool = False) -> list[dict]:
    """Grafana's steps at $__interval = 1m: a sample every 30 s, so minute k reads sample 2k.

    The expected event at step k is the change since step k-1 (or, ``shows_value``, the new
    value); no change, no sample.
    """
    tests = []
    for k in range(1, minutes + 1):
        delta = samples[2 * k] - samples[2 * k - 2]
        exp = [{"labels": labels, "value": samples[2 * k] if shows_value else delta}] if delta else []
        tests.append({"expr": _concrete(expr), "eval_time": f"{k}m", "exp_samples": exp})
    return tests


def test_change_annotations_mark_every_change_once(tmp_path):
    """Real Prometheus engine (promtool): every sync and every finished deploy build gives exactly
    one annotation step, also when it falls between two steps' samples."""
    common = 'job="argocd-metrics", namespace="argocd", pod="argocd-application-controller-0", project="data", name="etl"'
    # Syncs at samples 3, 4, 7 (7 is odd: between the samples of minutes 3 and 4), 15 and 21-23.
    synced = [0, 0, 0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7]
    failed = [0] * 9 + [1] * 22
    dry = list(range(31))  # dry runs change nothing on the dashboards
    # Jenkins deploy job: a new last completed build at samples 7 and 20; the controller pod is
    # replaced at sample 12 (new series, same value: no event); a non-deploy job changes too.
    t0, t1, t2 = 1_700_000_000_000, 1_700_000_300_000, 1_700_000_900_000
    deploy = [t0] * 7 + [t1] * 13 + [t2] * 11
    jlabels = 'job="jenkins", namespace="jenkins", jenkins_job="deploy-prod", repo="NA", buildable="true"'
    series = [
        {"series": f'argocd_app_sync_total{{{common}, phase="Succeeded", dry_run="false"}}', "values": _values(synced)},
        {"series": f'argocd_app_sync_total{{{common}, phase="Failed", dry_run="false"}}', "values": _values(failed)},
        {"series": f'argocd_app_sync_total{{{common}, phase="Succeeded", dry_run="true"}}', "values": _values(dry)},
        {"series": f'{JENKINS_START}{{{jlabels}, pod="jenkins-0"}}', "values": _values(deploy[:12]) + " stale"},
        {"series": f'{JENKINS_START}{{{jlabels}, pod="jenkins-1"}}', "values": "_x12 " + _values(deploy[12:])},
        {"series": f'{JENKINS_START}{{job="jenkins", jenkins_job="nightly-build", pod="jenkins-0"}}', "values": _values(list(range(1, 32)))},
    ]
    minutes = 15
    tests = (
        _steps(annotations.ARGOCD_SYNCED, synced, '{name="etl", project="data"}', minutes)
        + _steps(annotations.ARGOCD_SYNC_FAILED, failed, '{name="etl", project="data"}', minutes)
        + _steps(annotations.JENKINS_DEPLOY, deploy, '{jenkins_job="deploy-prod"}', minutes, shows_value=True)
    )
    marked = sum(1 for t in tests[:minutes] if t["exp_samples"])
    assert sum(t["exp_samples"][0]["value"] for t in tests[:minutes] if t["exp_samples"]) == synced[2 * minutes] and marked == 5
    assert [t["eval_time"] for t in tests[2 * minutes :] if t["exp_samples"]] == ["4m", "10m"]
    # increase() over the step itself (docs/layers-research.md's first form) misses the sync
    # between the samples of minutes 3 and 4: the reason the annotations compare with offset.
    naive = _concrete('sum by (name, project) (increase(argocd_app_sync_total{phase="Succeeded", dry_run!="true"}[$__interval])) > 0')
    tests.append({"expr": naive, "eval_time": "4m", "exp_samples": []})
    result = _promtool_test(tmp_path, series, tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_change_annotation_check_fails_on_a_wrong_expectation(tmp_path):
    # The harness above can fail: claim an event at a step where nothing changed.
    series = [{"series": 'argocd_app_sync_total{name="etl", project="data", phase="Succeeded", dry_run="false"}', "values": "0 0 0 0 0 0"}]
    tests = [{"expr": _concrete(annotations.ARGOCD_SYNCED), "eval_time": "2m", "exp_samples": [{"labels": '{name="etl", project="data"}', "value": 1}]}]
    assert _promtool_test(tmp_path, series, tests).returncode != 0


# ------------------------------------------------------------------------------ new layers and JVM panels


def _row(model: dict, title: str) -> dict:
    [row] = [p for p in model["panels"] if p["type"] == "row" and p["title"] == title]
    return row


@pytest.mark.parametrize(
    "number,row,domain,required",
    [
        ("02", "Ceph", "ceph", {"dataops:ceph:pool_used_ratio"}),
        ("02", "Oracle", "oracle", {"dataops:oracle:tablespace_used_ratio"}),
        ("02", "PowerScale", "powerscale", {"dataops:powerscale:capacity_used_ratio"}),
        ("04", "Hive Metastore", "hive", {"dataops:hive:api_duration_seconds:p99_max", "dataops:hive:api_calls:rate5m"}),
        ("01", "Bitbucket", "bitbucket", {"dataops:bitbucket:git_request_failure_ratio_15m"}),
    ],
)
def test_new_layers_sit_in_collapsed_rows_and_read_their_recording_rules(models, number, row, domain, required):
    r = _row(models[number], row)
    assert r["collapsed"] is True and r["panels"], (number, row)
    own = recorded_names({p: d for p, d in load_rule_files().items() if p.name == f"{domain}.rules.yaml"})
    read = set().union(*(_reads(t["expr"]) for p in r["panels"] for t in p["targets"]))
    assert required <= read, (row, required - read)
    # Only the layer's own recording rules; Bitbucket's availability is up{} of BitbucketDown's targets.
    assert read - own <= ({"up"} if domain == "bitbucket" else set()), (row, read - own)


def test_workload_dashboard_shows_spark_driver_and_executor_heap_and_gc(models):
    viz = _viz(models["03"])
    exprs = [t["expr"] for p in viz for t in p["targets"]]
    heap = [e for e in exprs if "dataops:jvm:heap_used_ratio" in e]
    assert any('spark_role="driver"' in e for e in heap) and any('spark_role="executor"' in e for e in heap)
    assert any("dataops:jvm:gc_time_ratio" in e for e in exprs)
    limit = _alert_threshold("dataops:jvm:heap_used_ratio")
    lines = [p for p in viz if p["type"] == "timeseries" and "dataops:jvm:heap_used_ratio" in _reads(p["targets"][0]["expr"])]
    assert len(lines) == 2
    for panel in lines:
        assert limit in _threshold_values(panel)
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_main_navigation_shows_each_service_health_check(models):
    """dataops:service:availability (portal.rules.yaml, from the probe*Url settings) had no panel."""
    flat = [inner for panel in models["00"]["panels"] for inner in [panel, *panel.get("panels", [])]]
    panels = [p for p in flat if "dataops:service:availability" in json.dumps(p.get("targets", []))]
    assert len(panels) == 1
    [panel] = panels
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert panel["targets"][0]["legendFormat"] == "{{service}} ({{layer}})"


def test_rows_of_optional_parts_a_stack_does_not_deploy_are_left_out():
    """Shown empty, they read as broken; each part's row or panel appears with its part only."""
    where = {"bitbucket": ("01", "Bitbucket"), "ceph": ("02", "Ceph"), "oracle": ("02", "Oracle"),
             "powerscale": ("02", "PowerScale"), "hive": ("04", "Hive Metastore"),
             "service_probes": ("00", "서비스 헬스 체크 (Service health checks)")}
    assert set(where) == set(thresholds.OPTIONAL_PARTS)

    def titles(inputs, number):
        model = next(m.build(inputs) for m in MODULES if m.NUMBER == number)
        return {p["title"] for p in model["panels"]}

    for part, (number, title) in where.items():
        assert title in titles(DEFAULT_INPUTS, number)  # the default shows every part
        assert title in titles(dataclasses.replace(DEFAULT_INPUTS, parts=frozenset({part})), number)
        others = frozenset(set(where) - {part})
        assert title not in titles(dataclasses.replace(DEFAULT_INPUTS, parts=others), number), part
    with pytest.raises(ValueError, match="unknown optional dashboard parts"):
        dataclasses.replace(DEFAULT_INPUTS, parts=frozenset({"cassandra"}))
