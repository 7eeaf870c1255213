"""tools/gameday/real_spark.py and tools/spark_operator.py, checked without starting anything.

`make gameday` runs the real spark-operator for the ``spark-operator`` target (and
tests/test_real_spark_operator.py runs it against the catalog); here the pieces around it are
checked with a recording stand-in for the API server: which applications the scenario submits,
how the kubelet stand-in ends driver pods, what the run says when a part is missing, and how
the dashboard check explains a panel a freshly started real program leaves empty.
"""

from __future__ import annotations

import pytest

from tests.gameday_world import T0, world_of
from tools import spark_operator as so
from tools.gameday import real_spark
from tools.gameday.dashboards import why_empty
from tools.gameday.rendered import critical_alerts, from_run
from tools.gameday.scenarios import build_scenarios
from tools.gameday.world import SPARK_NS



class RecordingKube:
    """Answers what the code asks of the API server from a dict of pods; records every write."""

    def __init__(self, pods: dict[str, list[dict]] | None = None):
        self.pods = pods or {}
        self.created: list[tuple[str, dict]] = []
        self.patched: list[tuple[str, dict]] = []

    def create(self, path, body):
        self.created.append((path, body))

    def items(self, path):
        namespace = path.split("/namespaces/")[1].split("/")[0]
        return self.pods.get(namespace, [])

    def request(self, method, path, body=None, content_type=""):
        assert method == "PATCH" and content_type == "application/strategic-merge-patch+json"
        self.patched.append((path, body))
        namespace, name = path.split("/namespaces/")[1].split("/")[0], path.split("/pods/")[1].split("/")[0]
        for pod in self.pods.get(namespace, []):
            if pod["metadata"]["name"] == name:
                pod["status"].update(body["status"])  # as the API server stores a status patch


def _driver(name: str, phase: str = "Running", exit_code: str = "1", run_seconds: str = "5", terminated: bool = False) -> dict:
    statuses = [{"name": so.DRIVER_CONTAINER, "state": {"terminated": {"exitCode": 0}} if terminated else {"running": {}}}]
    return {"metadata": {"name": name, "annotations": {so.EXIT_CODE: exit_code, so.RUN_SECONDS: run_seconds}},
            "status": {"phase": phase, "containerStatuses": statuses}}


def test_the_applications_are_our_example_with_the_exit_code_asked_for():
    app = so.application("etl-fails-007", SPARK_NS, 1, 5)
    assert so.application("x", SPARK_NS, 1, 5, exit_at=T0)["spec"]["driver"]["annotations"] == {so.EXIT_CODE: "1", so.EXIT_AT: f"{T0:.0f}"}
    example = so.example_application()
    assert app["spec"]["mainClass"] == example["spec"]["mainClass"] and app["spec"]["image"] == example["spec"]["image"]
    assert app["metadata"] == {"name": "etl-fails-007", "namespace": SPARK_NS, "labels": {"app_type": so.APP_TYPE}}
    assert app["spec"]["driver"]["annotations"] == {so.EXIT_CODE: "1", so.RUN_SECONDS: "5"}
    assert "annotations" not in example["spec"]["driver"], "the shipped example must stay unchanged"


def test_the_kubelet_stand_in_ends_an_armed_driver_at_its_exit_time():
    kube = RecordingKube({SPARK_NS: [{"metadata": {"name": "x-driver", "annotations": {so.EXIT_CODE: "1", so.EXIT_AT: "1000"}},
                                      "status": {"phase": "Running", "containerStatuses": []}}]})
    kubelet = so.DriverKubelet(kube, (SPARK_NS,))
    kubelet._tick(999.0)
    assert kube.patched == []
    kubelet._tick(1000.5)
    assert kubelet.ended == [(f"{SPARK_NS}/x-driver", 1)]


def test_the_kubelet_stand_in_ends_a_driver_after_its_run_time_with_its_exit_code():
    kube = RecordingKube({SPARK_NS: [_driver("a-driver", exit_code="1", run_seconds="5"),
                                     _driver("b-driver", exit_code="0", run_seconds="30"),
                                     _driver("c-driver", phase="Pending"),
                                     _driver("d-driver", terminated=True)]})
    kubelet = so.DriverKubelet(kube, (SPARK_NS,))
    kubelet._tick(100.0)
    assert kube.patched == []  # first seen Running now: nothing has run its time yet
    kubelet._tick(106.0)
    assert [(path.rsplit("/", 2)[-2], body["status"]["phase"]) for path, body in kube.patched] == [("a-driver", "Failed")]
    (terminated,) = [c["state"]["terminated"] for c in kube.patched[0][1]["status"]["containerStatuses"]]
    assert terminated["exitCode"] == 1 and terminated["reason"] == "Error"
    assert kubelet.ended == [(f"{SPARK_NS}/a-driver", 1)]
    kubelet._tick(131.0)
    assert [p.rsplit("/", 2)[-2] for p, _ in kube.patched] == ["a-driver", "b-driver"]
    assert kube.patched[1][1]["status"]["phase"] == "Succeeded"


def test_the_workload_fails_on_demand_then_reruns_and_keeps_its_steady_successes():
    kube = RecordingKube()
    workload = real_spark.SparkWorkload(kube, real_spark.NAMESPACES)
    workload.tick(1)
    assert workload.submitted == []
    workload.tick(2)  # the first steady wave, so the counters move before the healthy check
    assert [(ns, code) for ns, _, code in workload.submitted] == [(ns, 0) for ns in real_spark.NAMESPACES]
    workload.arm_failures(SPARK_NS, 6, at=T0)
    assert [body["spec"]["driver"]["annotations"] for _, body in kube.created[-6:]] == [{so.EXIT_CODE: "1", so.EXIT_AT: f"{T0:.0f}"}] * 6
    workload.tick(3)
    assert workload.failures(SPARK_NS) == 6, "no failure submitted until told to keep failing"
    workload.keep_failing(SPARK_NS)
    workload.tick(3)
    assert workload.failures(SPARK_NS) == 7
    workload.stop_failing(real_spark.RERUNS)
    workload.tick(4)
    assert workload.failures(SPARK_NS) == 7
    assert [code for ns, _, code in workload.submitted[-real_spark.RERUNS:]] == [0] * real_spark.RERUNS
    names = [name for _, name, _ in workload.submitted]
    assert len(set(names)) == len(names), "every application gets a name of its own"
    assert all(path == f"{so.API}/namespaces/{body['metadata']['namespace']}/sparkapplications" for path, body in kube.created)


@pytest.fixture
def world(prod_run):
    rendered = from_run("prod", prod_run)
    return rendered, world_of(rendered)


def test_with_the_real_operator_the_scenario_submits_failing_applications(world):
    rendered, w = world
    kube = RecordingKube()
    workload = real_spark.SparkWorkload(kube, real_spark.NAMESPACES)
    w.workloads[real_spark.KEY] = workload
    (spark,) = [s for s in build_scenarios(w, critical_alerts(rendered), T0) if s.name == "spark-failures"]
    before = [s.value.at(T0) for s in w.targets["spark-operator"].series]
    spark.brk(T0)
    assert workload.failing == SPARK_NS and kube.created == [], "the break keeps failing; the batch was armed before t0"
    assert [s.value.at(T0) for s in w.targets["spark-operator"].series] == before, "the emulated series are not touched"
    workload.tick(1)
    spark.restore(T0 + 200)
    assert [body["spec"]["driver"]["annotations"][so.EXIT_CODE] for _, body in kube.created] == ["1"] + ["0"] * real_spark.RERUNS
    assert all(e.resolve_note and "10-minute window" in e.resolve_note for e in spark.expects)
    assert "real spark-operator" in spark.note


def test_a_missing_part_keeps_the_target_emulated_and_says_which(world, monkeypatch, tmp_path):
    _, w = world
    monkeypatch.setattr(real_spark, "missing_parts", lambda: ["PySpark (`make test-live`)"])
    real_spark.start_real_spark_operator(w, object(), tmp_path, None, [], T0)
    assert w.targets[real_spark.KEY].address is None and real_spark.KEY not in w.programs
    assert "spark-operator emulated" in w.emulated_note and "PySpark" in w.emulated_note


def test_without_a_control_plane_the_operator_is_not_started(world, tmp_path):
    _, w = world
    real_spark.start_real_spark_operator(w, None, tmp_path, None, [], T0)
    assert w.targets[real_spark.KEY].address is None and not w.workloads


def test_an_empty_panel_fed_by_a_fresh_real_program_says_so():
    rules = {"dataops:spark:success_rate_24h": {"spark_application_success_count", "spark_application_failure_count"}}
    real = {"spark_application_success_count": "spark-operator v2.5.2", "spark_application_failure_count": "spark-operator v2.5.2"}
    why = why_empty('dataops:spark:success_rate_24h{cluster=~"$cluster"}', set(rules), set(real), set(), real, rules)
    assert why.startswith("reads spark_application_failure_count, spark_application_success_count from a real program started with this run")
    assert why_empty("node_load1", set(), {"node_load1"}, set(), real, rules) == "its inputs exist: the query selects nothing while healthy"


def test_an_empty_panel_of_a_5m_recording_says_its_backfill_step():
    slow = {"dataops:storage:volume_usage_ratio": "5m"}
    why = why_empty("sort_desc(dataops:storage:volume_usage_ratio)", set(slow), set(), set(), {}, {}, slow)
    assert why.startswith("reads dataops:storage:volume_usage_ratio, recorded every 5m: backfilled at that step")
    assert why_empty("dataops:storage:volume_usage_ratio", set(slow), set(), set(), {}, {}, {}) == "its inputs exist: the query selects nothing while healthy"
