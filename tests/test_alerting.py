"""Alerting: rule files (promtool), labels/annotations/runbooks, SLO generator, routes (amtool),
MTTD budget, and the component under the mock engine."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from components.alerting import alertmanager_wiring
from components.alerting.alertmanager_config import (
    CONFIG_SECRET_KEY,
    CONFIG_SECRET_NAME,
    CREDENTIALS_SECRET_NAME,
    DEAD_MANS_SWITCH_KEY,
    PAGERDUTY_KEY,
    SLACK_KEY,
    alertmanager_config,
    render_alertmanager_yaml,
)
from components.slo.rules import slo_rule_groups
from tests.conftest import PROJECT, random_secret, with_secrets
from tests.live import tool
from tools.mock_engine import Secret, leaked_secrets
from tools.slo_report import MTTD_TARGET_S, load_rule_documents, mttd_rows
from tools.slo_rules import SLO_RULES_FILE, WINDOW_RULES_FILE, generate, generate_windows, load_stack_settings, window_slos

import dashboards
from components.slo.rules import DASHBOARD as SLO_DASHBOARD
from core.rules import DASHBOARD_ANNOTATION
from rules_util import as_deployed

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
RUNBOOKS = ROOT / "docs" / "runbooks"
SECRET = "kubernetes:core/v1:Secret"
RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def _alerts(files=None):
    for path in sorted(RULES.glob("*.rules.yaml")) if files is None else [RULES / f for f in files]:
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    yield path.name, rule


# ------------------------------------------------------------------ rule files


# promtool check/test of every rule file: tests/test_rules_promtool.py.


ALL_RULE_FILES = tuple(sorted(p.name for p in RULES.glob("*.rules.yaml")))


def _test_documents_for(file_name: str):
    """The promtool test files that load ``file_name`` (a domain may have several)."""
    for test_file in sorted((RULES / "tests").glob("*.test.yaml")):
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        if any(Path(rel).name == file_name for rel in doc.get("rule_files") or []):
            yield doc


@pytest.mark.parametrize("file_name", ALL_RULE_FILES)
def test_every_alert_fires_and_stays_quiet_in_a_unit_test(file_name):
    fired, quiet = set(), set()
    for doc in _test_documents_for(file_name):
        for test in doc["tests"]:
            for case in test.get("alert_rule_test") or []:
                expected = case.get("exp_alerts") or []
                (fired if expected else quiet).add(case["alertname"])
                for alert in expected:
                    assert alert.get("exp_labels") and alert.get("exp_annotations"), case
    names = {rule["alert"] for _, rule in _alerts([file_name])}
    assert names - fired == set(), f"never shown firing: {names - fired}"
    assert names - quiet == set(), f"never shown quiet: {names - quiet}"


def test_every_alert_has_labels_annotations_and_a_runbook():
    known_dashboards = {info.uid for info in dashboards.INDEX.values()}
    problems = []
    for file_name, rule in _alerts():
        name, labels, ann = rule["alert"], rule.get("labels") or {}, rule.get("annotations") or {}
        if labels.get("severity") not in ("critical", "high", "medium"):
            problems.append(f"{file_name} {name}: severity {labels.get('severity')!r}")
        if not labels.get("component"):
            problems.append(f"{file_name} {name}: no component label")
        for key in ("summary", "description"):
            if not ann.get(key):
                problems.append(f"{file_name} {name}: no {key}")
        # Links come from core.rules.Links, never from the rule file.
        for key, value in ann.items():
            if key in ("runbook_url", "dashboard_url") or "://" in str(value):
                problems.append(f"{file_name} {name}: annotation {key} carries a link: {value!r}")
        dashboard = ann.get(DASHBOARD_ANNOTATION)
        if dashboard is not None and dashboard.split("?", 1)[0] not in known_dashboards:
            problems.append(f"{file_name} {name}: dashboard {dashboard!r} is not one we ship")
        if not (RUNBOOKS / f"{name}.md").is_file():
            problems.append(f"{file_name} {name}: docs/runbooks/{name}.md missing")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_deployed_alerts_link_runbook_and_dashboard_from_the_two_settings(run_stack, stack):
    runbooks, grafana = "https://wiki.example.org/dataops/runbooks", "https://grafana.example.org"
    overrides = {f"{PROJECT}:runbookBaseUrl": runbooks, f"{PROJECT}:grafanaUrl": grafana, **with_secrets()}
    run = run_stack(stack, overrides)
    known_dashboards = {info.uid for info in dashboards.INDEX.values()}
    alerts = [
        rule
        for reg in run.registrations
        if reg.type == RULE_CR
        for group in reg.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert len(alerts) > 40
    for rule in alerts:
        ann = rule["annotations"]
        assert ann["runbook_url"] == f"{runbooks}/{rule['alert']}.md"
        assert ann["dashboard_url"].startswith(f"{grafana}/d/"), ann
        assert ann["dashboard_url"][len(grafana) + 3 :].split("?", 1)[0] in known_dashboards, ann
        assert DASHBOARD_ANNOTATION not in ann


def test_summaries_are_korean():
    for _, rule in _alerts():
        assert any("\uac00" <= c <= "\ud7a3" for c in rule["annotations"]["summary"]), rule["alert"]


# ------------------------------------------------------------------ SLO generator


def test_committed_slo_rules_equal_the_generator_output():
    assert SLO_RULES_FILE.read_text(encoding="utf-8") == generate(), "run: python -m tools.slo_rules"


def test_committed_slo_window_fixture_equals_the_generator_output():
    # rules/tests/slo-windows.test.yaml runs promtool over it: the 7d/30d/90d pairs as generated today.
    assert WINDOW_RULES_FILE.read_text(encoding="utf-8") == generate_windows(), "run: python -m tools.slo_rules --windows"
    assert [slo.window for slo in window_slos()] == ["7d", "30d", "90d"]
    assert "slo-windows.rules.yaml" in (WINDOW_RULES_FILE.parent / "slo-windows.test.yaml").read_text(encoding="utf-8")


def test_slo_rules_follow_the_multiwindow_multi_burn_rate_pattern():
    settings = load_stack_settings("prod")
    groups = slo_rule_groups(settings.slos)
    assert slo_rule_groups(settings.slos) == groups  # deterministic
    text = yaml.safe_dump(groups)
    assert "burn_rate_6h > 6" not in text
    avail = next(g for g in groups if g["name"] == "dataops_slo_platform_availability")
    records = {r["record"] for r in avail["rules"] if "record" in r}
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"dataops:slo:error_ratio:rate{window}" in records
    burns = {r["labels"]["severity"]: r["expr"] for r in avail["rules"] if r.get("alert") == "SLOErrorBudgetBurn"}
    assert "rate1h{" in burns["critical"] and "rate5m{" in burns["critical"] and "> 0.0144" in burns["critical"]
    assert "rate6h{" in burns["critical"] and "rate30m{" in burns["critical"] and "> 0.006" in burns["critical"]
    assert "rate1d{" in burns["high"] and "rate2h{" in burns["high"] and "> 0.003" in burns["high"]
    assert "rate3d{" in burns["medium"] and "rate6h{" in burns["medium"] and "> 0.001" in burns["medium"]
    budget = next(g for g in groups if g["name"] == "dataops_slo_error_budget")
    assert {r.get("record") for r in budget["rules"]} >= {"dataops:slo:error_budget_remaining"}
    assert any(r.get("alert") == "SLOErrorBudgetExhausted" and "< 0.1" in r["expr"] for r in budget["rules"])


def test_freshness_slo_selects_each_table_exactly():
    settings = load_stack_settings("prod")
    fresh = next(s for s in settings.slos if s.name == "data-freshness")
    expr = fresh.error_ratio_expr("1h")
    assert 'database="sales",table="orders"' in expr and 'database="marketing",table="campaign_events"' in expr
    assert "=~" not in expr  # no regex cross product (marketing.orders)
    latency = next(s for s in settings.slos if s.name == "pipeline-latency")
    assert latency.good.count('status="success"') == 1 and latency.total.count('status="success"') == 1


# ------------------------------------------------------------------ Alertmanager config (amtool)


def _write_config(tmp_path, routing_overrides=None, has_pagerduty=True, has_slack=True, environment="prod", has_dead_mans_switch=None):
    settings = load_stack_settings("prod")
    creds = tmp_path / CREDENTIALS_SECRET_NAME
    creds.mkdir()
    (creds / PAGERDUTY_KEY).write_text(secrets.token_hex(16))
    (creds / SLACK_KEY).write_text(f"https://127.0.0.1/services/{secrets.token_hex(8)}")
    (creds / DEAD_MANS_SWITCH_KEY).write_text(f"https://127.0.0.1/ping/{secrets.token_hex(8)}")
    if has_dead_mans_switch is None:
        has_dead_mans_switch = has_pagerduty
    config = alertmanager_config(
        settings.routing, settings.cluster_name, environment, secrets_dir=str(tmp_path),
        has_pagerduty=has_pagerduty, has_slack=has_slack, has_dead_mans_switch=has_dead_mans_switch,
    )
    path = tmp_path / "alertmanager.yaml"
    path.write_text(render_alertmanager_yaml(config))
    return path, config


def _route(path, *labels):
    result = subprocess.run([tool("amtool"), "config", "routes", "test", f"--config.file={path}", *labels], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_amtool_accepts_the_generated_config(tmp_path):
    path, _ = _write_config(tmp_path)
    result = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_dead_mans_switch_and_checks_its_url_file(tmp_path):
    """The heartbeat webhook reads its URL from the credentials Secret (url_file, Alertmanager >= 0.26)."""
    path, config = _write_config(tmp_path, has_dead_mans_switch=True)
    heartbeat = next(r for r in config["receivers"] if r["name"] == "heartbeat")
    assert heartbeat["webhook_configs"] == [
        {"url_file": str(tmp_path / CREDENTIALS_SECRET_NAME / DEAD_MANS_SWITCH_KEY), "send_resolved": False, "max_alerts": 1}
    ]
    result = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _route(path, "alertname=Watchdog", "severity=none") == "heartbeat"
    # The check is real: a webhook with both url and url_file is refused.
    heartbeat["webhook_configs"][0]["url"] = "https://127.0.0.1/ping/x"
    path.write_text(render_alertmanager_yaml(config))
    result = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


def test_watchdog_repeats_every_minute_to_the_heartbeat():
    settings = load_stack_settings("prod")
    config = alertmanager_config(settings.routing, settings.cluster_name, "prod", has_pagerduty=True, has_slack=True, has_dead_mans_switch=True)
    watchdog = next(r for r in config["route"]["routes"] if r["matchers"] == ['alertname="Watchdog"'])
    assert watchdog == {
        "matchers": ['alertname="Watchdog"'], "receiver": "heartbeat",
        "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1m",
    }
    # First route: nothing before it can swallow the Watchdog (it carries severity=none).
    assert config["route"]["routes"][0] is watchdog
    url_file = next(r for r in config["receivers"] if r["name"] == "heartbeat")["webhook_configs"][0]["url_file"]
    assert url_file == f"/etc/alertmanager/secrets/{CREDENTIALS_SECRET_NAME}/{DEAD_MANS_SWITCH_KEY}"
    without = alertmanager_config(settings.routing, settings.cluster_name, "staging", has_pagerduty=False, has_slack=False, has_dead_mans_switch=False)
    assert next(r for r in without["receivers"] if r["name"] == "heartbeat") == {"name": "heartbeat"}


@pytest.mark.live
def test_a_real_alertmanager_posts_the_watchdog_to_the_heartbeat_url_from_its_file(tmp_path):
    """The dead-man's switch end to end: our config in a real Alertmanager on 127.0.0.1 reads
    the heartbeat URL from the mounted file and POSTs the Watchdog there, once per repeat."""
    import json
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.live import free_port, running, wait_until, with_package_share

    received: list[tuple[str, dict]] = []

    class Heartbeat(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Heartbeat)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        settings = load_stack_settings("prod")
        config = alertmanager_config(settings.routing, settings.cluster_name, "prod", secrets_dir=str(tmp_path), has_pagerduty=False, has_slack=False, has_dead_mans_switch=True)
        token = secrets.token_hex(8)  # the secret part of a heartbeat URL
        creds = tmp_path / CREDENTIALS_SECRET_NAME
        creds.mkdir()
        (creds / DEAD_MANS_SWITCH_KEY).write_text(f"http://127.0.0.1:{sink.server_port}/ping/{token}\n")
        (tmp_path / "alertmanager.yaml").write_text(render_alertmanager_yaml(config))
        port = free_port()
        args = with_package_share([
            tool("prometheus-alertmanager"),
            f"--config.file={tmp_path / 'alertmanager.yaml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ], "prometheus-alertmanager")
        with running(args, tmp_path / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready"):
            watchdog = [{"labels": {"alertname": "Watchdog", "severity": "none", "cluster": "dataops-prod"}, "annotations": {"summary": "heartbeat"}}]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps(watchdog).encode(), headers={"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                assert response.status == 200
            wait_until(lambda: received, 20, "the Watchdog at the heartbeat URL (group_wait 0s)")
        path, body = received[0]
        assert path == f"/ping/{token}"  # the URL came from the file, trailing newline trimmed
        assert body["receiver"] == "heartbeat" and body["status"] == "firing"
        assert [a["labels"]["alertname"] for a in body["alerts"]] == ["Watchdog"]
    finally:
        sink.shutdown()
        sink.server_close()


def _settings_problems(values):
    from settings import SettingsError
    from tests.settings_util import load

    try:
        load(values)
    except SettingsError as err:
        return err.problems
    return []


def _prod(**extra):
    values = {"environment": "prod", "clusterName": "dataops-prod", "thanosEnabled": False, "portalUrls": ["https://portal.dataops.internal/healthz"]}
    values.update({k: v for k, v in with_secrets(("pagerdutyRoutingKey", "slackWebhookUrl")).items()})
    values = {k.split(":", 1)[-1]: v for k, v in values.items()}
    values.update(extra)
    return values


def test_prod_requires_a_dead_mans_switch_unless_it_opts_out():
    problems = [p for p in _settings_problems(_prod()) if "deadMansSwitch" in p]
    assert len(problems) == 1, problems
    assert "dataops-monitoring:deadMansSwitchUrl is not set" in problems[0]
    assert "pulumi config set --secret dataops-monitoring:deadMansSwitchUrl" in problems[0]
    assert "deadMansSwitchDisabled true" in problems[0]
    assert not [p for p in _settings_problems(_prod(deadMansSwitchDisabled=True)) if "deadMansSwitch" in p]
    url = random_secret("deadMansSwitchUrl")
    assert not [p for p in _settings_problems(_prod(deadMansSwitchUrl=url)) if "deadMansSwitch" in p]
    both = [p for p in _settings_problems(_prod(deadMansSwitchUrl=url, deadMansSwitchDisabled=True)) if "deadMansSwitch" in p]
    assert len(both) == 1 and "keep one" in both[0] and url.value not in both[0]
    plain = [p for p in _settings_problems(_prod(deadMansSwitchUrl=url.value)) if "deadMansSwitch" in p]
    assert len(plain) == 1 and "plain text" in plain[0] and url.value not in plain[0]
    # Staging needs none.
    assert not [p for p in _settings_problems({"environment": "staging", "clusterName": "c", "thanosEnabled": False}) if "deadMansSwitch" in p]


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("severity=critical", "alertname=DataOpsPlatformDown"), "pagerduty-critical"),
        (("severity=high", "alertname=CPUCapacityLow"), "slack-high"),
        (("severity=medium", "alertname=TrinoSlowQueries"), "slack-medium"),
        (("severity=none", "alertname=InfoInhibitor"), "null"),
        (("severity=none", "alertname=Watchdog"), "heartbeat"),
        (("severity=warning", "alertname=KubePodCrashLooping"), "default"),
    ],
)
def test_amtool_routes_each_severity(tmp_path, labels, receiver):
    path, _ = _write_config(tmp_path)
    assert _route(path, *labels) == receiver


def test_staging_without_credentials_routes_everything_to_null_with_the_same_tree(tmp_path):
    path, config = _write_config(tmp_path, has_pagerduty=False, has_slack=False, environment="staging")
    for severity in ("critical", "high", "medium", "warning"):
        assert _route(path, f"severity={severity}") == "null"
    assert _route(path, "alertname=Watchdog", "severity=none") == "heartbeat"
    with_creds = alertmanager_config(load_stack_settings("prod").routing, "c", "prod", has_pagerduty=True, has_slack=True)
    strip = lambda routes: [{k: v for k, v in r.items() if k != "receiver"} for r in routes]  # noqa: E731
    assert strip(config["route"]["routes"]) == strip(with_creds["route"]["routes"])
    assert config["inhibit_rules"] == with_creds["inhibit_rules"]


def test_config_shape():
    settings = load_stack_settings("prod")
    config = alertmanager_config(settings.routing, settings.cluster_name, "prod", has_pagerduty=True, has_slack=True)
    text = render_alertmanager_yaml(config)
    assert "match:" not in text and "source_match:" not in text and "target_match:" not in text
    route = config["route"]
    assert route["group_by"] == ["alertname", "cluster", "namespace"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    by_receiver = {r["receiver"]: r for r in route["routes"]}
    assert by_receiver["pagerduty-critical"]["repeat_interval"] == "1h"
    assert by_receiver["slack-medium"]["repeat_interval"] == "12h"
    receivers = {r["name"]: r for r in config["receivers"]}
    pd = receivers["pagerduty-critical"]["pagerduty_configs"][0]
    assert pd["routing_key_file"] == f"/etc/alertmanager/secrets/{CREDENTIALS_SECRET_NAME}/{PAGERDUTY_KEY}"
    slack = receivers["slack-high"]["slack_configs"][0]
    assert slack["api_url_file"].endswith(f"/{CREDENTIALS_SECRET_NAME}/{SLACK_KEY}") and slack["channel"] == "#dataops-ops"
    assert slack["send_resolved"] is True and "발생" in slack["text"]
    assert receivers["slack-medium"]["slack_configs"][0]["channel"] == "#dataops-alerts"
    inhibit = config["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['severity="critical"'] and {"alertname", "cluster"} <= set(inhibit["equal"])


# ------------------------------------------------------------------ MTTD


def _mttd_over(files=None):
    settings = load_stack_settings("prod")
    docs = load_rule_documents(extra={"slo.rules.yaml": {"groups": slo_rule_groups(settings.slos, settings.prometheus.evaluation_interval)}})
    config = alertmanager_config(settings.routing, settings.cluster_name, "prod", has_pagerduty=True, has_slack=True)
    rows = mttd_rows(docs, settings.prometheus.scrape_interval, settings.prometheus.evaluation_interval, config)
    names = {r.alert for r in rows}
    assert {"DataOpsPlatformDown", "OOMKillFrequent", "SparkJobFailureSpike", "SLOErrorBudgetBurn"} <= names
    return [f"{r.alert} {r.labels} ({r.file}): {r.total_s:.0f}s" for r in rows if r.total_s > MTTD_TARGET_S and (files is None or r.file in files)]


def test_every_critical_alert_in_every_rule_file_is_within_the_mttd_target():
    over = _mttd_over()
    assert not over, "critical alerts over the 5 min MTTD target:\n" + "\n".join(over)


def test_mttd_sums_the_chain():
    rows = mttd_rows(
        {"a.rules.yaml": {"groups": [
            {"name": "rec", "interval": "1m", "rules": [{"record": "x:y:z", "expr": "up"}]},
            {"name": "alerts", "interval": "30s", "rules": [{"alert": "A", "expr": "x:y:z < 1", "for": "2m", "labels": {"severity": "critical"}}]},
        ]}},
        "30s", "30s", {"route": {"group_wait": "30s", "routes": []}},
    )
    assert [r.total_s for r in rows] == [30 + 60 + 30 + 120 + 30]


# ------------------------------------------------------------------ component under the mock engine


def test_secrets_are_secrets_and_nothing_leaks(prod_run):
    creds = prod_run.one(SECRET, CREDENTIALS_SECRET_NAME)
    assert isinstance(creds.inputs["stringData"], Secret)
    assert set(creds.inputs["stringData"].value) == {PAGERDUTY_KEY, SLACK_KEY, DEAD_MANS_SWITCH_KEY}
    for reg in prod_run.registrations:
        assert leaked_secrets(reg.inputs, prod_run.secret_values) == [], reg.name
    assert leaked_secrets(prod_run.stack_outputs, prod_run.secret_values) == []


def test_config_travels_in_a_secret_without_credentials(prod_run):
    config = prod_run.one(SECRET, CONFIG_SECRET_NAME)
    data = config.inputs["stringData"]
    data = data.value if isinstance(data, Secret) else data
    text = data[CONFIG_SECRET_KEY]
    assert yaml.safe_load(text)["route"]["receiver"] == "default"
    assert not any(s in text for s in prod_run.secret_values)
    for cm in prod_run.by_type("kubernetes:core/v1:ConfigMap"):
        assert "alertmanager" not in cm.name


def test_release_mounts_the_alerting_secrets(prod_run):
    am = prod_run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack").inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert am["useExistingSecret"] is True
    assert am["configSecret"] == CONFIG_SECRET_NAME == alertmanager_wiring().config_secret_name
    assert am["secrets"] == [CREDENTIALS_SECRET_NAME]


def test_prometheus_rules_depend_on_the_release_and_match_settings(prod_run):
    release = prod_run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack")
    alerting = prod_run.one("dataops:monitoring:Alerting", "alerting")
    names = {"dataops-slo", "dataops-slo-long-windows"}
    rules = {r.name: r for r in prod_run.by_type(RULE_CR) if r.name in names}
    assert set(rules) == names
    for rule in rules.values():
        assert release.urn in rule.dependencies and rule.parent == alerting.urn
    # Prometheus evaluates dataops-slo; the Thanos Ruler the 30d budgets (prod keeps 15d).
    for rule in rules.values():
        assert rule.inputs["metadata"]["labels"]["dataops.io/rules"] == "true"
    assert "dataops.io/evaluator" not in rules["dataops-slo"].inputs["metadata"]["labels"]
    assert rules["dataops-slo-long-windows"].inputs["metadata"]["labels"]["dataops.io/evaluator"] == "thanos-ruler"
    committed = yaml.safe_load(SLO_RULES_FILE.read_text(encoding="utf-8"))["groups"]
    local = [g for g in committed if g["name"] != "dataops_slo_error_budget"]
    budget = [g for g in committed if g["name"] == "dataops_slo_error_budget"]
    assert rules["dataops-slo"].inputs["spec"]["groups"] == as_deployed("slo", SLO_DASHBOARD, local)
    assert rules["dataops-slo-long-windows"].inputs["spec"]["groups"] == as_deployed("slo", SLO_DASHBOARD, budget)


def test_budget_exhausted_is_a_ticket_not_a_page():
    """Decision (docs/runbooks/SLOErrorBudgetExhausted.md): high, not the guide's critical."""
    committed = yaml.safe_load(SLO_RULES_FILE.read_text(encoding="utf-8"))["groups"]
    exhausted = [r for g in committed for r in g["rules"] if r.get("alert") == "SLOErrorBudgetExhausted"]
    assert exhausted and {r["labels"]["severity"] for r in exhausted} == {"high"}
    runbook = (RUNBOOKS / "SLOErrorBudgetExhausted.md").read_text(encoding="utf-8")
    assert "## critical 이 아니라 high 인 이유" in runbook
    # A critical alert would have to notify within 5 minutes: this one cannot (5m group + 15m for).
    budget_group = next(g for g in committed if g["name"] == "dataops_slo_error_budget")
    assert budget_group["interval"] == "5m" and all(r.get("for") == "15m" for r in exhausted)


def test_staging_without_credentials_routes_to_null(staging_run):
    run = staging_run
    data = run.one(SECRET, CONFIG_SECRET_NAME).inputs["stringData"]
    config = yaml.safe_load((data.value if isinstance(data, Secret) else data)[CONFIG_SECRET_KEY])
    assert config["route"]["receiver"] == "null"
    assert {r["receiver"] for r in config["route"]["routes"]} == {"null", "heartbeat"}
    assert {r["name"] for r in config["receivers"]} == {"null", "heartbeat"}


def test_staging_with_slack_only_sends_critical_to_slack(run_stack):
    run = run_stack("staging", {**with_secrets(("thanosAccessKey", "thanosSecretKey")), f"{PROJECT}:slackWebhookUrl": random_secret("slack")})
    data = run.one(SECRET, CONFIG_SECRET_NAME).inputs["stringData"]
    config = yaml.safe_load((data.value if isinstance(data, Secret) else data)[CONFIG_SECRET_KEY])
    critical = next(r for r in config["route"]["routes"] if r["matchers"] == ['severity="critical"'])
    receiver = next(r for r in config["receivers"] if r["name"] == critical["receiver"])
    assert "slack_configs" in receiver and "pagerduty_configs" not in receiver


def test_notifications_carry_the_alerts_own_links():
    """dashboard_url and runbook_url are absolute in every alert (core.rules.Links): notifications pass them through."""
    settings = load_stack_settings("prod")
    config = alertmanager_config(settings.routing, settings.cluster_name, "prod", has_pagerduty=True, has_slack=True)
    receivers = {r["name"]: r for r in config["receivers"]}
    texts = [c["text"] for r in receivers.values() for c in r.get("slack_configs", [])]
    assert texts and all("*대시보드:* {{ .Annotations.dashboard_url }}" in t and "{{ .Annotations.runbook_url }}" in t for t in texts)
    pagerduty = [c for r in receivers.values() for c in r.get("pagerduty_configs", [])]
    assert pagerduty[0]["details"]["dashboard_url"] == "{{ .CommonAnnotations.dashboard_url }}"


def test_grafana_url_must_be_an_http_url():
    from settings import SettingsError
    from tests.settings_util import load

    with pytest.raises(SettingsError) as excinfo:
        load({"environment": "staging", "clusterName": "c", "thanosEnabled": False, "grafanaUrl": "grafana.example.com/"})
    assert "dataops-monitoring:grafanaUrl = 'grafana.example.com/'" in str(excinfo.value)


def test_mttd_counts_the_group_interval_of_an_already_notified_group():
    rows = mttd_rows(
        {"a.rules.yaml": {"groups": [{"name": "alerts", "interval": "30s", "rules": [{"alert": "A", "expr": "up == 0", "for": "1m", "labels": {"severity": "critical"}}]}]}},
        "30s", "30s",
        {"route": {"group_wait": "30s", "group_interval": "5m", "routes": [{"matchers": ['severity="critical"'], "group_interval": "2m"}]}},
    )
    assert [r.total_s for r in rows] == [30 + 30 + 60 + 120]


def test_critical_alerts_joining_a_paged_group_are_not_held_for_minutes():
    settings = load_stack_settings("prod")
    config = alertmanager_config(settings.routing, settings.cluster_name, "prod", has_pagerduty=True, has_slack=True)
    critical = next(r for r in config["route"]["routes"] if r["matchers"] == ['severity="critical"'])
    assert critical["group_interval"] == "30s"


def test_lagging_slis_do_not_page_and_no_two_burn_alerts_share_labels():
    """A late DAG run counts only when it ends, a stale table only after the freshness limit: their
    fast burn cannot meet the 5-minute MTTD (make gameday), so it goes out as high, not critical.
    Two alerts with one name must never carry the same static labels (ALERTS would collide)."""
    settings = load_stack_settings("prod")
    groups = slo_rule_groups(settings.slos)
    seen = set()
    fast = {}
    for group in groups:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            key = (rule["alert"], tuple(sorted(rule["labels"].items())))
            assert key not in seen, key
            seen.add(key)
            if rule["alert"] == "SLOErrorBudgetBurn" and "rate5m{" in rule["expr"]:
                fast[rule["labels"]["slo"]] = rule["labels"]["severity"]
    assert fast == {"platform-availability": "critical", "pipeline-latency": "high", "data-freshness": "high"}
