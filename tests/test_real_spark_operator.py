"""The spark-operator for real: kubeflow spark-operator v2.5.2 on the e2e's local control plane,
scraped and compared with docs/metrics/spark-operator.yaml.

What runs (tools/spark_operator.py says what is real and what stands in):
* the e2e's control plane (etcd, kube-apiserver, controller manager, scheduler, kwok; 127.0.0.1);
* the controller with the chart's metrics settings and our ``--metrics-labels`` (namespace,
  app_type), its CRDs from its module, and PySpark 3.5.3's spark-submit, which it runs for every
  application: our example SparkApplication (components/spark/assets) under three names;
* STAND-IN for the kubelet and the driver JVM (kwok runs no container): the test creates one
  executor pod per driver with the labels Spark gives executors (read from the spark.properties
  spark-submit stored for the driver) and ends executor and driver containers with exit codes.

Three applications: one succeeds, one fails (driver exit 1, executor exit 1), one fails at
spark-submit (a local dependency jar without ``spark.kubernetes.file.upload.path``: spark-submit
refuses it, as it would a user's typo).
Checked: every catalogued series appears with the catalogued type and labels (target labels
aside) or is absent for the reason its entry gives; the values follow the three applications;
every spark-operator name our rules and dashboards read is exposed.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from e2e.cluster import CONTROL_PLANE, LocalCluster
from e2e.kube import ApiError, timestamp
from rules_util import names_read_by_rules_and_dashboards
from tests.live import control_plane_and, free_port, parse_exposition, wait_until
from tests.live import stop as stop_process
from tools import spark_operator as so
from tools.live_programs import PYSPARK

pytestmark = [pytest.mark.heavy, pytest.mark.live]

CATALOG = Path(__file__).resolve().parent.parent / "docs" / "metrics" / "spark-operator.yaml"
# Labels Prometheus adds as the PodMonitor's target labels: not the controller's own.
TARGET_LABELS = {"job", "instance", "pod"}
NS = "spark-jobs"
OK, FAILED, REFUSED = "pi-succeeds", "pi-fails", "pi-refused"


def _binaries() -> dict[str, str]:
    found = control_plane_and("spark-operator")
    home = so.spark_home(PYSPARK.venv)
    if home is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PySpark is missing on CI: `make test-live` must install it")
        pytest.skip("PySpark not installed: python -m tools.live_programs install --heavy")
    found["spark_home"] = str(home)
    return found  # type: ignore[return-value]


def _driver(kube, app: str) -> dict:
    return kube.get(f"/api/v1/namespaces/{NS}/pods/{app}-driver")


def _running(kube, name: str) -> bool:
    try:
        return kube.get(f"/api/v1/namespaces/{NS}/pods/{name}").get("status", {}).get("phase") == "Running"
    except Exception:  # noqa: BLE001 - not created yet
        return False


def _spark_properties(kube, driver: dict) -> str:
    """The spark.properties spark-submit stored for the driver (its ConfigMap volume). spark-submit
    creates the ConfigMaps after the driver pod: a volume's ConfigMap may not exist yet."""
    for volume in driver["spec"].get("volumes", []):
        name = volume.get("configMap", {}).get("name")
        if not name:
            continue
        try:
            data = kube.get(f"/api/v1/namespaces/{NS}/configmaps/{name}").get("data", {})
        except ApiError as err:
            if err.status == 404:
                continue
            raise
        if "spark.properties" in data:
            return data["spark.properties"]
    return ""


def _executor_labels(kube, driver: dict) -> dict[str, str]:
    """The labels Spark's driver gives its executor pods: Spark's own and the operator's
    spark.kubernetes.executor.label.* from the properties spark-submit stored for the driver."""
    labels = {key: driver["metadata"]["labels"][key] for key in ("spark-app-selector", "spark-app-name") if key in driver["metadata"]["labels"]}
    labels.update({"spark-role": "executor", "spark-exec-id": "1", "spark-exec-resourceprofile-id": "0"})
    prefix = "spark.kubernetes.executor.label."
    properties = wait_until(lambda: _spark_properties(kube, driver), 30, "the driver's spark.properties ConfigMap (spark-submit)")
    for line in properties.splitlines():
        key, _, value = line.partition("=")
        if key.startswith(prefix):
            labels[key[len(prefix):]] = value.replace("\\:", ":")
    return labels


def _start_executor(kube, app: str) -> str:
    driver = _driver(kube, app)
    name = f"{app}-exec-1"
    kube.create(f"/api/v1/namespaces/{NS}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": _executor_labels(kube, driver),
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": driver["metadata"]["name"],
                                          "uid": driver["metadata"]["uid"], "controller": True}]},
        "spec": {"containers": [{"name": "spark-kubernetes-executor", "image": driver["spec"]["containers"][0]["image"]}]},
    })
    return name


def _end(kube, pod: str, container: str, exit_code: int) -> None:
    now = timestamp()
    kube.request("PATCH", f"/api/v1/namespaces/{NS}/pods/{pod}/status", {"status": so.terminated_status(exit_code, now, now, container)},
                 content_type="application/strategic-merge-patch+json")


class Scrape:
    def __init__(self, text: str, states: dict[str, dict], executor_labels: dict[str, str]):
        self.types, self.samples = parse_exposition(text)
        self.states = states
        self.executor_labels = executor_labels

    def values(self, name: str, **labels: str) -> list[float]:
        return [v for n, ls, v in self.samples if n == name and all(ls.get(k) == x for k, x in labels.items())]


@pytest.fixture(scope="module")
def scrape(tmp_path_factory) -> Iterator[Scrape]:
    binaries = _binaries()
    tmp = tmp_path_factory.mktemp("real_spark_operator")
    cluster = LocalCluster(tmp / "cluster", {name: Path(binaries[name]) for name in CONTROL_PLANE})
    operator = None
    try:
        cluster.start()
        kube = cluster.kube
        so.prepare(kube, (NS,))
        port, health = free_port(), free_port()
        with open(tmp / "spark-operator.log", "wb") as log:
            operator = subprocess.Popen(
                so.controller_args(binaries["spark-operator"], (NS,), port, health),
                env=so.controller_env(cluster.kubeconfig, cluster.api_port, Path(binaries["spark_home"])),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2).status == 200, 60, "the controller ready")
        so.submit(kube, OK, NS, exit_code=0)
        so.submit(kube, FAILED, NS, exit_code=1)
        refused = so.application(REFUSED, NS, 0, 0)
        refused["spec"]["deps"] = {"jars": ["file:///opt/jobs/missing-dependency.jar"]}
        kube.create(f"{so.API}/namespaces/{NS}/sparkapplications", refused)
        wait_until(lambda: _running(kube, f"{OK}-driver") and _running(kube, f"{FAILED}-driver"), 120, "both driver pods Running (spark-submit, kwok)")
        executors = {app: _start_executor(kube, app) for app in (OK, FAILED)}
        wait_until(lambda: all(_running(kube, pod) for pod in executors.values()), 60, "the executor pods Running (kwok)")
        for app, code in ((OK, 0), (FAILED, 1)):
            _end(kube, executors[app], "spark-kubernetes-executor", code)
            _end(kube, f"{app}-driver", so.DRIVER_CONTAINER, code)
        final = {OK: "COMPLETED", FAILED: "FAILED", REFUSED: "FAILED"}
        try:
            wait_until(lambda: all(so.application_state(kube, app, NS) == state for app, state in final.items()), 90, "the applications' final states")
        except AssertionError:
            pass  # the assertions say which
        time.sleep(2)  # the metrics follow the status update
        states = {app: kube.get(f"{so.API}/namespaces/{NS}/sparkapplications/{app}").get("status", {}) for app in final}
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()  # noqa: S310 - loopback
        yield Scrape(text, states, _executor_labels(kube, _driver(kube, OK)))
    finally:
        if operator is not None:
            stop_process(operator)
        cluster.stop()


def _catalog() -> dict[str, dict]:
    """Sample name -> catalog entry (``series`` expanded)."""
    out = {}
    for entry in yaml.safe_load(CATALOG.read_text()):
        for suffix in entry.get("series") or [""]:
            out[entry["name"] + suffix] = entry
    return out


def test_the_applications_end_as_the_operator_decides(scrape):
    got = {app: status.get("applicationState", {}).get("state") for app, status in scrape.states.items()}
    assert got == {OK: "COMPLETED", FAILED: "FAILED", REFUSED: "FAILED"}, scrape.states
    assert "spark-submit" in scrape.states[REFUSED]["applicationState"].get("errorMessage", ""), scrape.states[REFUSED]


def test_every_catalogued_series_is_exposed_with_its_type_and_labels(scrape):
    problems = []
    for name, entry in sorted(_catalog().items()):
        found = [labels for n, labels, _ in scrape.samples if n == name]
        if entry.get("appears_when"):
            if found:
                problems.append(f"{name}: exposed although its entry says it needs: {entry['appears_when']}")
            continue
        if not found:
            problems.append(f"{name}: not exposed")
            continue
        if scrape.types.get(entry["name"]) != entry["type"]:
            problems.append(f"{name}: type {scrape.types.get(entry['name'])!r}, catalogued {entry['type']!r}")
        expected = set(entry["labels"]) - TARGET_LABELS - ({"le"} if not name.endswith("_bucket") else set())
        for labels in found:
            if set(labels) != expected:
                problems.append(f"{name}: labels {sorted(labels)}, catalogued {sorted(expected)} (+ target labels)")
    assert not problems, "\n".join(problems)


def test_every_exposed_spark_series_is_catalogued(scrape):
    catalog = _catalog()
    exposed = {n for n, _, _ in scrape.samples if n.startswith(("spark_application_", "spark_executor_"))}
    assert sorted(exposed - set(catalog)) == []


def test_the_values_follow_the_three_applications(scrape):
    v = scrape.values
    labels = {"namespace": NS, "app_type": so.APP_TYPE}
    assert v("spark_application_count", **labels) == [3.0]
    assert v("spark_application_submit_count", **labels) == [2.0]
    assert v("spark_application_success_count", **labels) == [1.0]
    # The refused submission ends FAILED too (restartPolicy Never): counted both as a failed
    # submission and as a failure (docs/metrics/spark-operator.yaml says so).
    assert v("spark_application_failed_submission_count", **labels) == [1.0]
    assert v("spark_application_failure_count", **labels) == [2.0]
    assert v("spark_application_running_count", **labels) == [0.0]
    assert v("spark_executor_success_count", **labels) == [1.0]
    assert v("spark_executor_failure_count", **labels) == [1.0]
    assert v("spark_executor_running_count", **labels) == [0.0]


def test_executors_carry_the_applications_labels(scrape):
    """The executor series' app_type comes from the executor pod's labels: the operator passes the
    SparkApplication's labels on as spark.kubernetes.executor.label.*."""
    assert scrape.executor_labels.get("app_type") == so.APP_TYPE, scrape.executor_labels
    assert scrape.executor_labels.get("sparkoperator.k8s.io/launched-by-spark-operator") == "true", scrape.executor_labels


def test_every_operator_series_rules_and_dashboards_read_is_exposed(scrape):
    exposed = {n for n, _, _ in scrape.samples}
    read = {name: who for name, who in names_read_by_rules_and_dashboards().items() if name in _catalog()}
    assert read, "no rule or dashboard reads a spark-operator series: the derivation is broken"
    missing = {name: sorted(who) for name, who in read.items() if name not in exposed}
    assert not missing, missing
