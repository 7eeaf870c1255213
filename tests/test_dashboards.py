"""The seven DataOps dashboards (dashboards/) and their ConfigMaps (components/dashboards.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

import dashboards
from components.dashboards import CONFIGMAP_LIMIT_BYTES, config_map_name
from components.prometheus_stack import DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL
from dashboards import lib
from tests.live import tool
from rules_util import iter_rules, load_catalog, promql_metric_names, recorded_names

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
MIN_PANELS = 6  # visualisation panels (rows and text not counted)
MODULES = dashboards.DASHBOARDS
IDS = [m.__name__.rsplit(".", 1)[-1] for m in MODULES]


@pytest.fixture(scope="module")
def models() -> dict[str, dict]:
    return {m.NUMBER: m.build() for m in MODULES}


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
    return promql_metric_names(m.group("selector") if m else expr)


def _all_queries(model: dict) -> list[tuple[str, str]]:
    return lib.panel_exprs(model) + lib.variable_queries(model)


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


@pytest.mark.parametrize(
    "number,metric,value",
    [
        ("02", "dataops:cluster:cpu_usage_ratio", lib.CPU_USAGE_MAX),
        ("02", "dataops:cluster:memory_usage_ratio", lib.MEMORY_USAGE_MAX),
        ("02", "dataops:storage:volume_usage_ratio", lib.STORAGE_USAGE_MAX),
        ("04", "dataops:iceberg:small_files_ratio", lib.SMALL_FILES_MAX),
        ("03", "dataops:spark:failure_ratio_10m", lib.SPARK_FAILURE_MAX),
        ("00", "dataops:platform:availability", lib.PLATFORM_AVAILABILITY_MIN),
        ("00", "dataops:slo:error_budget_remaining", lib.ERROR_BUDGET_MIN),
    ],
)
def test_panels_turn_red_where_the_alert_fires(models, number, metric, value):
    panels = _panel_reading(models[number], metric)
    assert panels and all(value in _threshold_values(p) for p in panels), (number, metric)


def _alert_threshold(metric: str) -> float | None:
    """``<metric> > x`` / ``< x`` in an alert of rules/*.rules.yaml, if some alert has it."""
    pattern = re.compile(re.escape(metric) + r"(?:\{[^}]*\})?\s*[<>]=?\s*([0-9.]+)")
    for _, _, rule in iter_rules():
        if "alert" in rule:
            m = pattern.search(rule["expr"])
            if m:
                return float(m.group(1))
    return None


@pytest.mark.parametrize(
    "metric,value",
    [
        ("dataops:cluster:cpu_usage_ratio", lib.CPU_USAGE_MAX),
        ("dataops:cluster:memory_usage_ratio", lib.MEMORY_USAGE_MAX),
        ("dataops:storage:volume_usage_ratio", lib.STORAGE_USAGE_MAX),
        ("dataops:iceberg:small_files_ratio", lib.SMALL_FILES_MAX),
        ("dataops:spark:failure_ratio_10m", lib.SPARK_FAILURE_MAX),
        ("dataops:platform:availability", lib.PLATFORM_AVAILABILITY_MIN),
        ("dataops:slo:error_budget_remaining", lib.ERROR_BUDGET_MIN),
    ],
)
def test_dashboard_thresholds_match_the_alert_rules(metric, value):
    found = _alert_threshold(metric)
    if found is None:
        pytest.skip(f"no alert on {metric} in rules/ yet")
    assert found == value, f"alert on {metric} fires at {found}, dashboards colour at {value}"


# ------------------------------------------------------------------------------ JSON


def test_json_is_deterministic():
    first = dashboards.rendered()
    second = dashboards.rendered()
    assert first == second
    for name, text in first:
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n", name


def test_dashboards_round_trip_through_the_sdk_model(models):
    """The Python SDK has no JSON-schema validator; its typed model is the schema it offers.

    Parsing the JSON back into ``dashboard.Dashboard`` and encoding it again must give the
    same document: a field the Grafana 11.6 model does not know would be dropped on the way.
    (Value types are not checked by the SDK; the builders' typed setters cover those.)
    """
    for number, model in models.items():
        back = dm.Dashboard.from_json(json.loads(json.dumps(model)))
        again = json.loads(json.dumps(back, cls=JSONEncoder, sort_keys=True))
        assert again == model, number
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
    rendered = dict(dashboards.rendered())
    assert len(rendered) == 7
    for file_name, text in rendered.items():
        cm = prod_run.one(CONFIG_MAP, config_map_name(file_name))
        meta = cm.inputs["metadata"]
        assert meta["namespace"] == "monitoring"
        assert meta["labels"][DASHBOARD_LABEL] == "1"
        assert meta["annotations"] == {DASHBOARD_FOLDER_ANNOTATION: "DataOps"}
        assert cm.inputs["data"] == {file_name: text}
        assert json.loads(cm.inputs["data"][file_name]) == next(m.build() for m in MODULES if dashboards.info(m).file_name == file_name)
        assert cm.parent == component.urn
        size = len(json.dumps(cm.inputs).encode())
        assert size < CONFIGMAP_LIMIT_BYTES, (file_name, size)


def test_configmaps_stay_well_under_the_1mib_limit():
    for file_name, text in dashboards.rendered():
        assert len(text.encode()) < CONFIGMAP_LIMIT_BYTES // 4, file_name


def test_component_registers_outputs_and_waits_for_the_chart(prod_run):
    component = prod_run.one("dataops:monitoring:Dashboards", "dashboards")
    for file_name, _ in dashboards.rendered():
        cm = prod_run.one(CONFIG_MAP, config_map_name(file_name))
        assert any("kube-prometheus-stack" in d for d in cm.dependencies)
    assert component.name == "dashboards"


def test_same_configmaps_in_staging(staging_run, prod_run):
    for file_name, _ in dashboards.rendered():
        name = config_map_name(file_name)
        assert staging_run.one(CONFIG_MAP, name).inputs["data"] == prod_run.one(CONFIG_MAP, name).inputs["data"]


def test_every_alert_links_an_existing_dashboard_and_variable():
    """Every deployed alert's dashboard_url is <grafanaUrl>/d/<uid>[?var-x=...] of a dashboard we ship."""
    import re

    from dashboards import DASHBOARDS
    from tests.rules_util import deployed_alerts

    models = {m.build()["uid"]: m.build() for m in DASHBOARDS}
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
