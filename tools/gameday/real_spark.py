"""The real spark-operator behind the game day's ``spark-operator`` target.

Where the controller is built (`make tools`), the e2e's control plane is built (`make e2e-build`)
and PySpark is installed (`make gameday`), the target is kubeflow spark-operator v2.5.2 on the game
day's local control plane (tools/gameday/real_k8s.py; tools/spark_operator.py: what is real, and
the kubelet stand-in that ends driver pods). Prometheus scrapes its /metrics under the emulated target's labels (the
PodMonitor's honorLabels keep the operator's own ``namespace`` label).

The applications it runs, all our example SparkApplication under other names (``SparkWorkload``):
* before t0: in each namespace the emulated target served, one application that succeeds and
  one that fails, so the counters exist before the scenario moves them (``increase()`` does not
  count a series' first sample), then one success per namespace every ``STEADY_S``, the first
  ``FAIL_EVERY_S`` * 2 after the start (so the counters have moved by the healthy check);
* the spark-failures scenario: a batch of ``FAILING_BATCH`` applications submitted before t0
  whose drivers run until t0 and then exit 1 (the failure happens at t0, not a spark-submit
  later), then one more failure every ``FAIL_EVERY_S`` until restore; restore reruns a few of
  them, which succeed.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Optional

from e2e.cluster import LocalCluster
from tools import spark_operator as so
from tools.gameday.common import log
from tools.gameday.real import RealProgram, bind
from tools.gameday.runtime import Processes
from tools.gameday.world import SPARK_NS, World
from tools.loopback import free_port
from tools.periodic import Periodic

KEY = "spark-operator"
NAMESPACES = (SPARK_NS, "data-processing")  # the namespaces the emulated target reports (world.py)
STEADY_S = 60.0
FAIL_EVERY_S = 15.0
SUCCESS_RUN_S = 10.0  # a driver's run time before it exits 0
FAILURE_RUN_S = 5.0  # ... before it exits 1
RERUNS = 4  # failed applications resubmitted at restore (each is a spark-submit JVM on 2 cores)
FAILING_BATCH = 6


class SparkWorkload(Periodic):
    """Submits applications to the real operator: steady successes, and failures on demand."""

    def __init__(self, kube, namespaces: tuple[str, ...]):
        super().__init__(FAIL_EVERY_S, "spark-workload")
        self.kube, self.namespaces = kube, namespaces
        self.numbers = itertools.count(1)
        self.submitted: list[tuple[str, str, int]] = []
        self.errors: list[str] = []
        self.failing: Optional[str] = None
        self.ticks = 0

    def submit(self, namespace: str, exit_code: int, exit_at: Optional[float] = None) -> str:
        name = f"{'etl-fails' if exit_code else 'etl'}-{next(self.numbers):03d}"
        try:
            so.submit(self.kube, name, namespace, exit_code=exit_code, run_seconds=FAILURE_RUN_S if exit_code else SUCCESS_RUN_S, exit_at=exit_at)
            self.submitted.append((namespace, name, exit_code))
        except Exception as err:  # noqa: BLE001 - reported with the run, never kills the game day
            self.errors.append(f"{namespace}/{name}: {err}")
        return name

    def arm_failures(self, namespace: str, count: int, at: float) -> None:
        """``count`` applications submitted now whose drivers run until ``at``, then exit 1."""
        for _ in range(count):
            self.submit(namespace, 1, exit_at=at)

    def keep_failing(self, namespace: str) -> None:
        """From now on one more failing application every ``FAIL_EVERY_S``."""
        self.failing = namespace

    def stop_failing(self, reruns: int) -> None:
        namespace, self.failing = self.failing, None
        if namespace:
            for _ in range(reruns):
                self.submit(namespace, 0)

    def failures(self, namespace: str) -> int:
        return sum(1 for ns, _, code in self.submitted if ns == namespace and code)

    def step(self) -> None:
        self.ticks += 1
        self.tick(self.ticks)

    def tick(self, ticks: int) -> None:
        """The ``ticks``-th step, ``FAIL_EVERY_S`` apart: a failure while failing, steady successes."""
        if self.failing:
            self.submit(self.failing, 1)
        every = int(STEADY_S // FAIL_EVERY_S)
        if ticks % every == 2 % every:
            for namespace in self.namespaces:
                self.submit(namespace, 0)


def missing_parts() -> list[str]:
    """What the real operator needs besides the control plane and this machine lacks (empty: all there)."""
    import os

    from e2e.build import binary_path
    from tools.live_programs import PYSPARK

    missing = [] if os.access(binary_path(KEY), os.X_OK) else [f"{KEY} (`make tools`)"]
    if so.spark_home(PYSPARK.venv) is None:
        missing.append("PySpark (`make gameday` or `make test-live` installs it)")
    return missing


def start_real_spark_operator(world: World, cluster: Optional[LocalCluster], work: Path, procs: Processes, servers: list, t0: float) -> None:
    """Run the real operator on ``cluster`` for the world's ``spark-operator`` target and bind it; or say why not."""
    if KEY not in world.targets or cluster is None:
        return
    missing = missing_parts()
    if missing:
        world.note_emulated(f"spark-operator emulated: not built or installed here: {', '.join(missing)}")
        return
    from e2e.build import binary_path
    from tools.live_programs import PYSPARK

    root = work / "spark"
    root.mkdir()
    kube = cluster.kube
    so.prepare(kube, NAMESPACES)
    port, health = free_port(), free_port()
    operator = RealProgram(
        f"spark-operator {so.VERSION}", so.controller_args(str(binary_path(KEY)), NAMESPACES, port, health),
        root / "spark-operator.log", f"http://127.0.0.1:{health}/readyz", procs,
        env=so.controller_env(cluster.kubeconfig, cluster.api_port, so.spark_home(PYSPARK.venv)))
    operator.start()
    kubelet = so.DriverKubelet(kube, NAMESPACES).start()
    servers.append(kubelet)
    workload = SparkWorkload(kube, NAMESPACES)
    for namespace in NAMESPACES:
        workload.submit(namespace, 0)
        workload.submit(namespace, 1)
    workload.arm_failures(SPARK_NS, FAILING_BATCH, at=t0)
    servers.append(workload.start())
    world.workloads[KEY] = workload
    bind(world, KEY, f"127.0.0.1:{port}",
         f"kubeflow spark-operator {so.VERSION} controller on the local control plane, running our example "
         "SparkApplication through PySpark 3.5.3's spark-submit (driver pods ended by a kubelet stand-in)", operator)
    log(f"real spark-operator {so.VERSION}: pid {operator.proc.pid}")


def workload_line(world: World) -> str:
    """What the real spark-operator ran, for the report ("" when it was not real)."""
    workload = world.workloads.get(KEY)
    if workload is None:
        return ""
    states: dict[str, int] = {}
    for namespace, name, _ in workload.submitted:
        try:
            state = so.application_state(workload.kube, name, namespace) or "NEW"
        except Exception:  # noqa: BLE001 - the control plane already stopped
            state = "?"
        states[state] = states.get(state, 0) + 1
    failed = sum(1 for *_, code in workload.submitted if code)
    line = (f"Real spark-operator: {len(workload.submitted)} SparkApplications submitted ({failed} with a failing driver); "
            f"states at the end: {', '.join(f'{k} {v}' for k, v in sorted(states.items()))}")
    return line + (f"; submit errors: {'; '.join(workload.errors[:3])}" if workload.errors else "")
