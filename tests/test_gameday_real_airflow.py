"""tools/gameday/real_airflow.py and the extra, non-paging check it adds (AirflowDagRunFailed), without
Airflow: the second exporter pod's target, the play that runs only where the stack deploys the alert,
the emulated fallback with its reason, the real path's hand-off to the Airflow runs, and how a
Slack-routed alert is measured. `make gameday` runs the real Airflow (tests/test_real_airflow.py, the
same commands, under `make test-live`).
"""

from __future__ import annotations

import sys
import time

import pytest

from tools.gameday.configs import scrape_configs
from tools.gameday.real import inventory
from tools.gameday.real_airflow import (EMULATED_KEY, FAILED_RUNS, KEY, POD, RESOLVE_NOTE, SCENARIO, WORKLOAD, AirflowRuns, second_exporter, start_real_airflow)
from tools.gameday.rendered import critical_alerts, from_run
from tools.gameday.results import Result, format_table, update_results
from tools.gameday.runtime import Notification, Processes
from tools.gameday.scenarios import build_scenarios
from tests.gameday_world import ORIGIN, T0, world_of
from tools.live_airflow import FAILING

NOT_INSTALLED = "Airflow 3.3.2 is not installed in /nowhere"


@pytest.fixture
def rendered(prod_run):
    return from_run("prod", prod_run)


@pytest.fixture
def world(rendered):
    return world_of(rendered)


def _emulated(world, rendered, tmp_path, real=True, missing=lambda: NOT_INSTALLED, exporter=lambda: "/bin/statsd_exporter"):
    procs, servers = Processes(), []
    target = start_real_airflow(world, rendered, tmp_path, procs, servers, tmp_path, 3600, real=real, missing=missing, exporter=exporter)
    assert not procs.procs and not servers and not world.programs and not world.workloads, "nothing is started for an emulated exporter"
    return target


def _scenarios(world, rendered, extras=True):
    return {s.name: s for s in build_scenarios(world, critical_alerts(rendered), T0, critical_alerts(rendered, "high") if extras else ())}


def test_the_second_exporter_pod_is_the_same_job_with_its_own_pod_and_instance(world):
    first = world.targets[EMULATED_KEY]
    second = second_exporter(world)
    assert (second.key, second.job, second.monitor, second.layer) == (KEY, first.job, first.monitor, "airflow")
    assert (second.interval, second.path, second.metric_relabel) == (first.interval, first.path, first.metric_relabel)
    assert second.labels == {**first.labels, "pod": POD, "instance": "10.42.0.51:9102"} and first.labels["instance"] == "10.42.0.50:9102"
    assert second.series == [] and first.series, "no series of its own; the emulated pod keeps the steady state"
    world.add(second)
    jobs = {j["job_name"]: j for j in scrape_configs(world.targets.values(), 9999)}
    assert jobs[f"gameday-{KEY}"]["static_configs"][0]["labels"]["job"] == "airflow-statsd-exporter"


def test_the_play_runs_only_where_the_stack_deploys_the_alert_and_the_second_exporter_exists(world, rendered, tmp_path):
    assert SCENARIO not in _scenarios(world, rendered), "no second exporter pod yet: no scenario"
    _emulated(world, rendered, tmp_path)
    assert SCENARIO not in _scenarios(world, rendered, extras=False), "a non-paging alert runs only when named among the extras"
    scenarios = _scenarios(world, rendered)
    (expect,) = scenarios[SCENARIO].expects
    assert (expect.key, expect.severity, expect.paging, expect.resolve_note) == (
        f"AirflowDagRunFailed dag_id={FAILING}", "high", False, RESOLVE_NOTE)
    assert scenarios[SCENARIO].uses == {KEY}
    # The paging scenarios are those of the critical alerts, as before; the outage spares the second pod.
    assert sorted(e.key for s in scenarios.values() for e in s.expects if e.paging) == sorted(a.key for a in critical_alerts(rendered))
    outage = scenarios["platform-outage"]
    assert EMULATED_KEY in outage.uses and KEY not in outage.uses


def test_without_airflow_the_exporter_and_its_failures_are_emulated_and_the_run_says_why(world, rendered, tmp_path):
    target = _emulated(world, rendered, tmp_path)
    assert target.address is None and world.targets[KEY] is target
    assert f"{NOT_INSTALLED}: {KEY} and the {SCENARIO} scenario are emulated" in world.emulated_note
    assert KEY in inventory(world).splitlines()[1] and NOT_INSTALLED in inventory(world)
    scenario = _scenarios(world, rendered)[SCENARIO]
    assert scenario.note.startswith("EMULATED")
    assert target.exposition(T0) == "\n"
    scenario.brk(T0)
    text = target.exposition(T0 + 1)
    assert f'airflow_dagrun_duration_count{{dag_id="{FAILING}",status="failed"}} {FAILED_RUNS}' in text
    assert f'airflow_ti_finish{{dag_id="{FAILING}",state="failed",task_id="transform_group__load"}} {FAILED_RUNS}' in text
    assert target.exposition(T0 - 1) == "\n", "the failed series are new at t0, as statsd_exporter creates them"
    stored = target.stored_labels(next(s for s in target.series if s.name == "airflow_dagrun_duration_count"))
    assert (stored["job"], stored["instance"], stored["pod"]) == ("airflow-statsd-exporter", "10.42.0.51:9102", POD)


def test_a_missing_statsd_exporter_or_the_emulated_switch_keep_it_emulated(world, rendered, tmp_path):
    _emulated(world, rendered, tmp_path, missing=lambda: None, exporter=lambda: None)
    assert "statsd_exporter is not built" in world.emulated_note
    world.targets.pop(KEY)
    world.emulated_note = ""
    _emulated(world, rendered, tmp_path, real=False, missing=lambda: None)
    assert world.emulated_note == "" and KEY in world.targets, "--emulated: the run's own note says it"


class FakeRuns:
    def __init__(self):
        self.failed: list[float] = []

    def fail(self, t: float = 0.0) -> None:
        self.failed.append(t)


def test_where_airflow_is_real_the_break_runs_the_failing_dag_and_nothing_is_emulated(world, rendered, tmp_path):
    _emulated(world, rendered, tmp_path, real=False)
    world.workloads[WORKLOAD] = runs = FakeRuns()
    scenario = _scenarios(world, rendered)[SCENARIO]
    assert scenario.note.startswith("real Airflow 3.3.2") and f"dags test {FAILING}" in scenario.note
    scenario.brk(T0)
    scenario.restore(T0 + 100)
    assert runs.failed == [T0] and world.targets[KEY].series == []


def test_the_healthy_world_has_no_failed_dag_run_in_the_alerts_window(world):
    """The emulated DAGs' failed runs ended before the history: AirflowDagRunFailed is silent until t0."""
    failed = world.targets[EMULATED_KEY].find("airflow_dagrun_duration_count", status="failed")
    assert len(failed) == 2
    for s in failed:
        assert s.value.at(ORIGIN + 1) == s.value.at(T0) == 1.0


def _slack(t, dag_id, status="FIRING", severity="high"):
    title = f"[prod] [{status}{':1' if status == 'FIRING' else ''}] AirflowDagRunFailed ({severity}, )"
    text = f":rotating_light: Airflow DAG 실행 실패 ({dag_id}: 최근 1시간 2회)\n*심각도:* `{severity}`"
    return Notification(t, "slack", "/slack", {"channel": "#dataops-ops", "attachments": [{"title": title, "text": text}]})


class Inbox:
    """A receiver stand-in's record, without its server."""

    def __init__(self, notifications):
        self.notifications = list(notifications)

    def snapshot(self):
        return list(self.notifications)


def Receivers(pd=(), slack=()):  # noqa: N802 - reads like the receivers dict it stands for
    return {"pagerduty": Inbox(pd), "slack": Inbox(slack), "deadman": Inbox(())}


def test_a_non_paging_alert_is_detected_at_slack_for_its_own_dag_only(world, rendered, tmp_path):
    _emulated(world, rendered, tmp_path)
    scenario = _scenarios(world, rendered)[SCENARIO]
    result = Result(scenario.expects[0], scenario)
    update_results([result], Receivers(slack=[_slack(T0 - 5, FAILING), _slack(T0 + 10, "daily_sales")]), None)
    assert result.detected is None and result.verdict == "MISSED", "before t0, or another DAG: not this check"
    update_results([result], Receivers(slack=[_slack(T0 + 10, "daily_sales"), _slack(T0 + 150, FAILING)]), None)
    assert result.detected == 150 and result.receivers == {"slack #dataops-ops"} and result.verdict == "ok"
    scenario.t_restore = T0 + 151
    update_results([result], Receivers(slack=[_slack(T0 + 150, FAILING), _slack(T0 + 400, FAILING, "RESOLVED")]), None)
    assert result.resolved == 249
    table = format_table([result], [])
    assert "extra, non-paging check (severity high" in table and "AirflowDagRunFailed dag_id=dataops_live_failing" in table
    late = Result(scenario.expects[0], scenario)
    update_results([late], Receivers(slack=[_slack(T0 + 301, FAILING)]), None)
    assert late.verdict == "MISSED"
    paged = Result(scenario.expects[0], scenario)
    page = Notification(T0 + 100, "pagerduty", "/v2/enqueue", {"event_action": "trigger", "payload": {"summary": f"[prod] AirflowDagRunFailed: Airflow DAG 실행 실패 ({FAILING}: 최근 1시간 2회)"}})
    update_results([paged], Receivers(pd=[page], slack=[_slack(T0 + 100, FAILING)]), None)
    assert paged.verdict == "WRONG RECEIVER", "a non-paging alert must not page"
    wrong = Result(scenario.expects[0], scenario)
    update_results([wrong], Receivers(slack=[_slack(T0 + 100, FAILING, severity="critical")]), None)
    assert wrong.detected is None


def test_airflow_runs_wait_for_each_command_and_stop_one_that_runs_over_by_pid(tmp_path):
    """The Airflow commands' runner, with the Python interpreter standing in for `airflow`."""
    procs = Processes()
    runs = AirflowRuns(procs, tmp_path / "home", {"PATH": ""}, pause=0)
    (tmp_path / "home").mkdir()
    assert runs.run("fails", [sys.executable, "-c", "raise SystemExit(1)"], 30) == 1
    began = time.monotonic()
    assert runs.run("hangs", [sys.executable, "-c", "import time; time.sleep(60)"], 0.5) is None
    assert time.monotonic() - began < 20 and procs.procs == []
    assert [(key, code) for key, code, _ in runs.done] == [("fails", 1), ("hangs", None)]
    runs.stop()
    assert runs.run("after-stop", [sys.executable, "-c", "pass"], 5) is None
