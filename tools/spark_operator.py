"""kubeflow spark-operator on the e2e's local control plane (e2e/cluster.py): what the game day's
spark-failures scenario and tests/test_real_spark_operator.py run.

Real:
- the controller, v2.5.2 (the version docs/metrics/spark-operator.yaml was verified against),
  built by `make tools` from our wrapper module (e2e/gomod/spark-operator);
- its CRDs, read from its module at that version, as its chart installs them;
- spark-submit, PySpark 3.5.3's (the Spark the platform runs; `make test-live` installs it),
  which the controller runs for every application and which creates the driver pod through the
  API server;
- the applications: our shipped example (components/spark/assets/spark-application-example.yaml)
  under other names, so the real CRD schema and spark-submit accept what we tell users to copy.

STAND-IN, the kubelet's part: kwok runs no container, so a driver pod stays Running until
``DriverKubelet`` ends it as the kubelet does when the driver's JVM exits: phase Succeeded or
Failed, and the ``spark-kubernetes-driver`` container terminated with the exit code the
application asked for (annotation ``dataops.gameday/exit-code``) after ``dataops.gameday/run-seconds``
Running, or at the time ``dataops.gameday/exit-at``.

Loopback only: the controller and spark-submit reach the API server at 127.0.0.1 (the
controller builds spark-submit's ``--master`` from KUBERNETES_SERVICE_HOST/PORT, set here to the
local API server; both authenticate with the run's kubeconfig). Driver pods and their Services
get addresses nothing connects to (e2e/cluster.py says why).
"""

from __future__ import annotations

import copy
import functools
import os
import time
from pathlib import Path
from typing import Callable, Optional

import yaml

from e2e.kube import ApiError, Kube, timestamp
from tools.periodic import Periodic

VERSION = "v2.5.2"
MODULE = f"github.com/kubeflow/spark-operator/v2@{VERSION}"
CRD_FILES = tuple(f"config/crd/bases/sparkoperator.k8s.io_{plural}.yaml"
                  for plural in ("sparkapplications", "scheduledsparkapplications", "sparkconnects"))
API = "/apis/sparkoperator.k8s.io/v1beta2"
EXAMPLE = Path(__file__).resolve().parent.parent / "components" / "spark" / "assets" / "spark-application-example.yaml"
DRIVER_CONTAINER = "spark-kubernetes-driver"  # kubeflow spark-operator pkg/common: SparkDriverContainerName
EXIT_CODE = "dataops.gameday/exit-code"
RUN_SECONDS = "dataops.gameday/run-seconds"
EXIT_AT = "dataops.gameday/exit-at"  # epoch seconds; instead of a run time: the driver exits then
# The label keys the controller's metrics carry (--metrics-labels): namespace comes from the
# application's namespace, app_type from its labels (docs/metrics/spark-operator.yaml).
METRICS_LABELS = ("namespace", "app_type")
APP_TYPE = "Scala"


def crds() -> list[dict]:
    from e2e.build import module_file

    return [yaml.safe_load(module_file(MODULE, path).read_text()) for path in CRD_FILES]


@functools.cache
def example_application() -> dict:
    """The shipped example, read once (callers that change it copy it first)."""
    return yaml.safe_load(EXAMPLE.read_text())


def prepare(kube: Kube, namespaces: tuple[str, ...]) -> None:
    """The CRDs, the job namespaces and the driver's service account (the operator chart's
    spark.serviceAccount, which the example's driver names: admission refuses a pod whose
    service account does not exist)."""
    definitions = crds()
    for crd in definitions:
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    for crd in definitions:
        name = crd["metadata"]["name"]
        _wait(lambda name=name: any(c["type"] == "Established" and c["status"] == "True"
                                    for c in kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}").get("status", {}).get("conditions", [])),
              30, f"CRD {name} established")
    account = example_application()["spec"]["driver"]["serviceAccount"]
    for namespace in namespaces:
        kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        kube.create(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
        _wait(lambda namespace=namespace: kube.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}"), 30,
              f"service account {account} in {namespace}")


def controller_args(binary: str, namespaces: tuple[str, ...], metrics_port: int, health_port: int) -> list[str]:
    """`spark-operator controller start` with the chart's metrics settings (prometheus.metrics.enable,
    endpoint /metrics, no prefix) and our --metrics-labels; one replica, so no leader election."""
    return [
        binary, "controller", "start",
        f"--namespaces={','.join(namespaces)}",
        "--enable-metrics=true",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        "--metrics-endpoint=/metrics",
        *(f"--metrics-labels={label}" for label in METRICS_LABELS),
        f"--health-probe-bind-address=127.0.0.1:{health_port}",
        "--leader-election=false",
    ]


def controller_env(kubeconfig: Path, api_port: int, spark_home: Path) -> dict[str, str]:
    """The controller's environment: the local API server as its in-cluster one, and Spark."""
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS", "HADOOP_CONF_DIR")}
    env.update({
        "KUBECONFIG": str(kubeconfig),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(api_port),
        "SPARK_HOME": str(spark_home),
        # spark-submit's JVM takes its own address from here instead of resolving the host name
        # (a DNS query off the machine where the name is not in /etc/hosts), as tests/test_real_spark.py does.
        "SPARK_LOCAL_IP": "127.0.0.1",
    })
    return env


def spark_home(pyspark_venv: Path) -> Optional[Path]:
    """PySpark's Spark home (bin/spark-submit and the jars) in its venv, or None."""
    found = sorted(pyspark_venv.glob("lib/python*/site-packages/pyspark/bin/spark-submit"))
    return found[0].parent.parent if found else None


def application(name: str, namespace: str, exit_code: int, run_seconds: float, exit_at: Optional[float] = None) -> dict:
    """Our example SparkApplication as ``name`` in ``namespace``, whose driver ends with ``exit_code``
    after ``run_seconds`` Running, or at the time ``exit_at``."""
    app = copy.deepcopy(example_application())
    app["metadata"] = {"name": name, "namespace": namespace, "labels": {"app_type": APP_TYPE}}
    ends = {EXIT_AT: f"{exit_at:.0f}"} if exit_at is not None else {RUN_SECONDS: f"{run_seconds:g}"}
    app["spec"]["driver"]["annotations"] = {EXIT_CODE: str(exit_code), **ends}
    return app


def submit(kube: Kube, name: str, namespace: str, exit_code: int = 0, run_seconds: float = 15.0, exit_at: Optional[float] = None) -> None:
    kube.create(f"{API}/namespaces/{namespace}/sparkapplications", application(name, namespace, exit_code, run_seconds, exit_at))


def application_state(kube: Kube, name: str, namespace: str) -> str:
    app = kube.get(f"{API}/namespaces/{namespace}/sparkapplications/{name}")
    return app.get("status", {}).get("applicationState", {}).get("state", "")


def terminated_status(exit_code: int, started: str, finished: str, container: str = DRIVER_CONTAINER) -> dict:
    """The pod status the kubelet reports once its one container (the driver's, unless
    ``container`` says another) has exited with ``exit_code``."""
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "containerStatuses": [{
            "name": container,
            "ready": False,
            "restartCount": 0,
            "image": example_application()["spec"]["image"],
            "imageID": "",
            "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                     "startedAt": started, "finishedAt": finished}},
        }],
    }


class DriverKubelet(Periodic):
    """STAND-IN for the kubelet: ends Running driver pods after their run time with their exit code."""

    def __init__(self, kube: Kube, namespaces: tuple[str, ...], poll: float = 1.0):
        super().__init__(poll, "driver-kubelet")
        self.kube, self.namespaces = kube, namespaces
        self.running_since: dict[str, float] = {}
        self.ended: list[tuple[str, int]] = []
        self.errors: list[str] = []

    def step(self) -> None:
        try:
            self._tick(time.time())
        except (OSError, ApiError) as err:  # the API server stopping at the end of a run
            self.errors.append(str(err))

    def _tick(self, now: float) -> None:
        for namespace in self.namespaces:
            for pod in self.kube.items(f"/api/v1/namespaces/{namespace}/pods?labelSelector=spark-role%3Ddriver"):
                meta, status = pod["metadata"], pod.get("status", {})
                key = f"{namespace}/{meta['name']}"
                if status.get("phase") != "Running" or any("terminated" in c.get("state", {}) for c in status.get("containerStatuses", [])):
                    continue
                since = self.running_since.setdefault(key, now)
                annotations = meta.get("annotations", {})
                if EXIT_AT in annotations:
                    if now < float(annotations[EXIT_AT]):
                        continue
                elif now - since < float(annotations.get(RUN_SECONDS, "15")):
                    continue
                exit_code = int(annotations.get(EXIT_CODE, "0"))
                self.kube.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/{meta['name']}/status",
                                  {"status": terminated_status(exit_code, timestamp(since), timestamp(now))},
                                  content_type="application/strategic-merge-patch+json")
                self.ended.append((key, exit_code))


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
