"""tools/gameday/: the pieces, and one scenario end to end with SHORTENED timings.

`make gameday` runs every critical alert's scenario with production timings (about 9 minutes).
Here one of them (ThanosQueryIsDown: the Thanos Query target stops answering; where `make tools`
built Thanos, the real Query process is stopped by PID and started again) runs through
the same code against the real Prometheus 3 and Alertmanager binaries with shortened timings,
clearly not production's: scrape and evaluation every 1 s, the rule's ``for: 2m`` cut to 5 s,
Alertmanager ``group_wait``/critical ``group_interval`` 1 s/2 s. Everything else is what the
prod stack renders: the rule expression and labels, the Alertmanager routing tree, receivers
and templates, credentials read from files.
"""

from __future__ import annotations

import copy
import time

import pytest
import yaml

from tests.live import tool
from tools import gameday as gd

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rendered() -> gd.Rendered:
    return gd.render("prod")


@pytest.fixture(scope="module")
def world(rendered):
    now = time.time()
    alerts = gd.critical_alerts(rendered)
    w = gd.build_world(rendered, now - 3600, now + 60, {a.alertname for a in alerts})
    for target in w.targets.values():
        gd.apply_monitor(target, rendered, rendered.scrape_interval)
    return w


def test_every_rendered_critical_alert_has_one_scenario_on_its_own_targets(rendered, world):
    alerts = gd.critical_alerts(rendered)
    assert alerts, "the prod stack renders no critical alert"
    scenarios = gd.build_scenarios(world, alerts, time.time() + 60)
    covered = [e.key for s in scenarios for e in s.expects]
    assert sorted(covered) == sorted(a.key for a in alerts), "a critical alert without (or with two) game-day scenarios"
    # Scenarios run at the same time: none may change a target another one reads.
    for i, a in enumerate(scenarios):
        for b in scenarios[i + 1:]:
            assert not a.uses & b.uses, (a.name, b.name, a.uses & b.uses)


def test_emulated_targets_serve_only_catalogued_names_under_their_monitors(world, rendered):
    assert gd.uncatalogued(world) == []
    monitored = {t.monitor for t in world.targets.values() if t.monitor}
    assert monitored <= set(rendered.monitors)
    # The keep-lists of the rendered monitors keep everything the targets serve for the rules.
    for target in world.targets.values():
        dropped = {s.name for s in target.series if target.stored_labels(s) is None}
        assert not dropped, (target.key, dropped)


def test_scraped_labels_follow_honor_labels_like_prometheus(world):
    argocd = world.targets["argocd"]  # honor_labels false: the app's namespace becomes exported_namespace
    info = argocd.find("argocd_app_info")[0]
    stored = argocd.stored_labels(info)
    assert stored["exported_namespace"] == "argocd" and stored["job"] == "argocd-metrics"
    ksm = world.targets["kube-state-metrics"]  # honorLabels: the pod's own namespace wins
    phase = ksm.find("kube_pod_status_phase", namespace="spark-jobs")[0]
    assert ksm.stored_labels(phase)["namespace"] == "spark-jobs"


def test_counters_integrate_rates_and_jumps():
    v = gd.Value(True, 0.0, 2.0)
    v.set(10.0, 0.5)
    v.jump(12.0, 7)
    assert v.at(10.0) == 20.0
    assert v.at(14.0) == 20.0 + 2.0 + 7
    g = gd.Value(False, 0.0, lambda t: t // 10 * 10)
    assert g.at(25.0) == 20.0


def test_external_label_matchers_are_handled_like_thanos_query():
    ext = {"cluster": "dataops-prod"}
    strip = gd.strip_external_matchers
    assert strip('up{cluster=~"$cluster"}', ext, {"cluster": ".*"}) == "up{}"
    assert strip('x{a="b", cluster=~"$cluster", c="d"}', ext, {"cluster": "dataops-prod"}) == 'x{a="b", c="d"}'
    assert strip('x{trino_cluster="t"}', ext, {}) == 'x{trino_cluster="t"}'
    with pytest.raises(LookupError):
        strip('x{cluster="staging"}', ext, {})


def test_alertmanager_config_changes_only_where_credentials_and_pagerduty_live(rendered, tmp_path):
    receivers = gd.stand_ins()  # not started: only their URLs are used
    try:
        text, written = gd.alertmanager_config(rendered.alertmanager_yaml, tmp_path, receivers)
    finally:
        for r in receivers.values():
            r.httpd.server_close()
    original, changed = yaml.safe_load(rendered.alertmanager_yaml), yaml.safe_load(text)
    assert changed["global"].pop("pagerduty_url") == f"{receivers['pagerduty'].url}/v2/enqueue"
    assert original["route"] == changed["route"] and original["inhibit_rules"] == changed["inhibit_rules"]

    def files(node, out):
        if isinstance(node, dict):
            for k, v in node.items():
                (out.append(v) if k.endswith("_file") else files(v, out))
        elif isinstance(node, list):
            for v in node:
                files(v, out)
        return out

    paths = files(changed, [])
    assert paths and all(p.startswith(str(tmp_path)) for p in paths)
    pagerduty_key = next(v for k, v in written.items() if "pagerduty" in k)
    assert len(pagerduty_key) == 32 and pagerduty_key not in rendered.alertmanager_yaml

    def strip_files(node):
        if isinstance(node, dict):
            return {k: strip_files(v) for k, v in node.items() if not k.endswith("_file")}
        if isinstance(node, list):
            return [strip_files(v) for v in node]
        return node

    assert strip_files(original) == strip_files(changed)


def test_thanos_query_down_pages_pagerduty_and_resolves_SHORTENED_TIMINGS(rendered, tmp_path):
    for name in ("prometheus", "alertmanager", "promtool"):
        tool(name)
    alert = next(a for a in gd.critical_alerts(rendered) if a.alertname == "ThanosQueryIsDown")
    # SHORTENED: the rendered rule with for: 5s in a 1 s group (production: for 2m, 30 s evaluation).
    rule = copy.deepcopy(next(r for _, _, r in rendered.rules() if r.get("alert") == alert.alertname and r["labels"]["severity"] == "critical"))
    assert rule["for"] == "2m"
    rule["for"] = "5s"
    groups = {"gameday-shortened": [{"name": "gameday_shortened", "interval": "1s", "rules": [rule]}]}
    # SHORTENED: first notification after 1 s, resolve after 2 s (production: 30 s and 30 s).
    am = yaml.safe_load(rendered.alertmanager_yaml)
    am["route"]["group_wait"] = "1s"
    for route in am["route"]["routes"]:
        if route.get("matchers") == ['severity="critical"']:
            route["group_interval"] = "2s"

    procs, servers = gd.Processes(), []
    try:
        stack, t0 = gd.start_stack(
            rendered, tmp_path, procs, servers, t0_delay=12.0, scrape_interval="1s", evaluation_interval="1s",
            history_s=0, rule_groups=groups, alertmanager_yaml=yaml.safe_dump(am), only_targets={"thanos-query"},
            # SHORTENED: resend firing alerts every 2 s (default 1m), so the Watchdog sent before
            # Prometheus discovered Alertmanager arrives within the test.
            prometheus_args=("--rules.alert.resend-delay=2s",),
        )
        scenarios = gd.build_scenarios(stack.world, [alert], t0)
        assert [s.name for s in scenarios] == ["thanos-query-down"]
        results = gd.run_scenarios(stack, scenarios, max_end=t0 + 45, detect_window=35, resolve_window=20)
        before = [n for n in stack.receivers["pagerduty"].snapshot() if n.t < t0]
        healthy_alerts = stack.healthy_alerts
        deadman = stack.receivers["deadman"].snapshot()
    finally:
        procs.stop_all()
        for server in servers:
            server.stop()
    for _, proc in procs.procs:
        assert proc.poll() is not None
    assert before == [] and healthy_alerts == [], ("the healthy state alerted", healthy_alerts)
    (result,) = results
    assert result.detected is not None, "no PagerDuty trigger for ThanosQueryIsDown"
    assert result.detected >= 5, "paged before the rule's (shortened) for: 5s could have elapsed after the break"
    assert result.routing_key_ok, "PagerDuty got another routing key than the one in the credentials file"
    assert "pagerduty" in result.receivers and "slack #dataops-ops" in result.receivers, result.receivers
    assert result.resolved is not None, "no resolve after the target came back"
    assert result.verdict == "ok"
    # The always-firing Watchdog reaches the dead-man's-switch webhook when the heartbeat
    # receiver has one (prod requires deadMansSwitchUrl), and nothing else ever does.
    heartbeat = next(r for r in am["receivers"] if r["name"] == "heartbeat")
    if heartbeat.get("webhook_configs"):
        assert any("Watchdog" in str(n.body) for n in deadman), "the Watchdog heartbeat never reached the dead-man's switch"
    assert not any("ThanosQueryIsDown" in str(n.body) for n in deadman)


def test_the_dashboards_checked_are_the_ones_the_stack_deploys(rendered):
    """Read from the render's labelled ConfigMaps: a row the stack leaves out (no Ceph in
    prod) is not queried, and each of the seven dashboards is."""
    import dashboards
    from components.dashboards import DEFAULT_INPUTS

    assert [d["uid"] for d in rendered.dashboards] == [m.build(DEFAULT_INPUTS)["uid"] for m in dashboards.DASHBOARDS]
    titles = {p["title"] for d in rendered.dashboards for p in d["panels"]}
    assert "Ceph" not in titles and "Hive Metastore" not in titles
    assert "플랫폼 가용성 (Platform availability)" in titles
