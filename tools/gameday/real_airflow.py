"""A real Airflow behind the game day's AirflowDagRunFailed check: failed DAG runs of a real Airflow 3,
counted by a real statsd_exporter with the stack's mapping, scraped by the game day's Prometheus.

The emulated target ``airflow-statsd`` keeps serving the steady state the dashboards and the
pipeline-latency SLO read (90-minute DAG runs, 24 h of success rates and a running scheduler's
heartbeats cannot be made real in a bounded game day). Next to it, ``airflow-statsd-1`` is a second
target of the same job, with the labels a second exporter pod would have (its own pod and instance):

* where Airflow is installed (tools/live_programs.py, ``--heavy``) and `make tools` built
  statsd_exporter, it is a real statsd_exporter started with the airflow-statsd-mapping ConfigMap
  the stack renders; a real Airflow (tools/live_airflow.py: SQLite, ``statsd_on`` to that exporter)
  gets ready in the background from stack start (`airflow db migrate`, one successful run of
  ``dataops_live_pipeline``); at t0 the scenario ``airflow-dag-failed`` runs `airflow dags test
  dataops_live_failing` twice (its TaskGroup task raises, no retries), the second run one scrape
  later so that the failed-task rate has two samples;
* ``dataops:airflow:dagrun_failures:increase1h`` counts a DAG's first failure only when its target
  was scraped an hour ago (``up offset 1h == 1``): the exporter pod has been running for hours, so its
  ``up`` gets the same backfilled history as every emulated target (only ``up``: every Airflow
  series comes from the real runs), as tests/test_real_airflow.py does;
* otherwise (or with ``--emulated``) ``airflow-statsd-1`` is emulated: it serves two failed runs of
  the same DAG from t0, and the run's list of emulated targets says why.

Nothing to restore: the alert clears when the failed runs leave its 1 h window (by design, noted).
Every process is started through ``Processes`` (own session) on 127.0.0.1 and stopped by PID.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from tools.gameday.common import log, seconds
from tools.gameday.configs import write_openmetrics
from tools.gameday.real import RealProgram, bind
from tools.gameday.rendered import Rendered
from tools.gameday.runtime import Processes, binary, run_tool
from tools.gameday.targets import Series, Target, Value
from tools.gameday.world import DAG_BUCKETS, World
from tools.live_airflow import (FAILING, FAILING_TASK, PIPELINE, airflow_command, airflow_env, airflow_missing, dags_test_args,
                                migrate_command, statsd_exporter_args, statsd_exporter_binary)
from tools.live_programs import AIRFLOW
from tools.loopback import free_port

EMULATED_KEY = "airflow-statsd"  # the emulated exporter pod: the steady state
KEY = "airflow-statsd-1"  # the second exporter pod: real where it can be
POD = "airflow-statsd-exporter-1"
SCENARIO = "airflow-dag-failed"
WORKLOAD = "airflow"  # world.workloads key of the real Airflow's runs
FAILED_RUNS = 2
RESOLVE_NOTE = "by design: AirflowDagRunFailed clears when the failed runs leave its 1 h window (nothing to restore)"

Step = Callable[[float], None]


def statsd_exporter_version() -> str:
    from e2e.build import TOOLS

    return next(t.version for t in TOOLS if "statsd_exporter" in t.binaries)


def second_exporter(world: World) -> Optional[Target]:
    """The job's second exporter pod: the emulated pod's job, monitor settings and labels, with its own
    pod and the next pod IP as instance; no series. None when the world has no Airflow exporter."""
    base = world.targets.get(EMULATED_KEY)
    if base is None:
        return None
    ip, port = base.labels["instance"].rsplit(":", 1)
    head, last = ip.rsplit(".", 1)
    instance = f"{head}.{int(last) + 1}:{port}"
    taken = {t.labels.get("instance") for t in world.targets.values()}
    if instance in taken:
        raise ValueError(f"{KEY}: instance {instance} is another target's")
    return dataclasses.replace(base, key=KEY, labels={**base.labels, "pod": POD, "instance": instance}, series=[],
                               down=False, address=None, program=None)


def emulated_failures(target: Target, dag_id: str, t: float, runs: int = FAILED_RUNS, duration: float = 7.0) -> list[Series]:
    """What statsd_exporter exposes after ``runs`` failed runs of ``dag_id`` ending at ``t`` (each ``duration``
    seconds, its one failing task): the failed-run histogram and the failed task, born at ``t``."""
    labels = {"dag_id": dag_id, "status": "failed"}
    added: list[Series] = []

    def add(name: str, these: dict[str, str], amount: float) -> None:
        s = Series(name, these, Value(True, t, 0.0), born=t)
        s.value.jump(t, amount)
        target.series.append(s)
        added.append(s)

    for le in DAG_BUCKETS:
        add("airflow_dagrun_duration_bucket", {**labels, "le": f"{float(le)}"}, runs if le >= duration else 0)
    add("airflow_dagrun_duration_bucket", {**labels, "le": "+Inf"}, runs)
    add("airflow_dagrun_duration_sum", labels, runs * duration)
    add("airflow_dagrun_duration_count", labels, runs)
    add("airflow_ti_finish", {"dag_id": dag_id, "task_id": FAILING_TASK, "state": "failed"}, runs)
    return added


class AirflowRuns:
    """The game day's Airflow CLI commands, one at a time in threads of their own: each started through
    ``Processes`` (own session), waited for, and stopped by PID past its timeout or at ``stop``."""

    def __init__(self, procs: Processes, home: Path, env: dict[str, str], pause: float):
        self.procs, self.home, self.env, self.pause = procs, home, env, pause
        self.logs = home.parent / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error = ""
        self.done: list[tuple[str, Optional[int], float]] = []  # (command key, exit code or None, seconds)
        self.current: Optional[subprocess.Popen] = None
        self.threads: list[threading.Thread] = []

    def run(self, key: str, args: list[str], timeout: float) -> Optional[int]:
        if self.stopping.is_set():
            return None
        began = time.monotonic()
        self.current = proc = self.procs.start(f"airflow {key}", args, self.logs / f"{key}.log", env=self.env, cwd=self.home)
        try:
            code: Optional[int] = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.procs.stop(proc)  # only forgotten when it has exited; SIGTERM to its PID when it ran over
        self.current = None
        self.done.append((key, code, time.monotonic() - began))
        return code

    def summary(self) -> str:
        return ", ".join(f"{key} {secs:.0f}s rc={code}" for key, code, secs in self.done)

    def _thread(self, name: str, work: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                work()
            except Exception as err:  # noqa: BLE001 - reported in the run's output, the table shows the miss
                self.error = self.error or f"{name}: {err}"
                log(f"real Airflow {name} failed: {err} (logs: {self.logs})")
            finally:
                if name == "prepare":
                    self.ready.set()

        thread = threading.Thread(target=guarded, name=f"airflow-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _prepare(self) -> None:
        if self.run("db-migrate", migrate_command(), 600) != 0:
            raise RuntimeError("airflow db migrate did not succeed")
        # A successful run first, as tests/test_real_airflow.py does: the exporter has real Airflow
        # series before t0, and what a failing run needs besides its failure is known to work.
        if self.run("warm-up", airflow_command(*dags_test_args(PIPELINE)), 300) != 0:
            raise RuntimeError(f"airflow dags test {PIPELINE} did not succeed")
        log(f"real Airflow {AIRFLOW.version} ready: {self.summary()}")

    def _fail(self) -> None:
        if not self.ready.wait(timeout=900) or self.error:
            raise RuntimeError(f"Airflow was not prepared ({self.error or 'timeout'}): no DAG run failed")
        for i in range(1, FAILED_RUNS + 1):
            if i > 1:
                self.stopping.wait(self.pause)  # the next failure in a later scrape
            code = self.run(f"failed{i}", airflow_command(*dags_test_args(FAILING)), 300)
            if code != 1:
                raise RuntimeError(f"airflow dags test {FAILING} exited {code}, not 1 (a failed run)")
        log(f"{SCENARIO}: real Airflow runs: {self.summary()}")

    def prepare(self) -> "AirflowRuns":
        self._thread("prepare", self._prepare)
        return self

    def fail(self, t: float = 0.0) -> None:
        self._thread("fail", self._fail)

    def stop(self) -> None:
        self.stopping.set()
        if self.current is not None:
            self.procs.stop(self.current)
        for thread in self.threads:
            thread.join(timeout=30)


def _up_history(target: Target, since: float, until: float, work: Path, data_dir: Path) -> None:
    """``up`` of ``target`` as the game day backfills it for an emulated target (same labels, interval)."""
    om = work / f"{target.key}-up.om"
    write_openmetrics([dataclasses.replace(target, address=None, series=[])], since, until, om)
    run_tool([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(om), str(data_dir)], timeout=300)
    om.unlink()


def why_not_real(rendered: Rendered, missing: Callable[[], Optional[str]] = airflow_missing,
                 exporter: Callable[[], Optional[str]] = statsd_exporter_binary) -> Optional[str]:
    """Why ``airflow-statsd-1`` cannot be real in this run, or None."""
    if not rendered.statsd_mapping:
        return "the stack renders no airflow-statsd-mapping ConfigMap"
    if exporter() is None:
        return "statsd_exporter is not built (`make tools` builds it where Go is installed)"
    return missing()


def start_real_airflow(world: World, rendered: Rendered, work: Path, procs: Processes, servers: list, data_dir: Path,
                       history_s: float, real: bool = True,
                       missing: Callable[[], Optional[str]] = airflow_missing,
                       exporter: Callable[[], Optional[str]] = statsd_exporter_binary) -> Optional[Target]:
    """Add ``airflow-statsd-1`` to the world: a real statsd_exporter (``world.programs``) fed by a real
    Airflow (``world.workloads["airflow"]``, being prepared in the background when this returns; ``up``
    backfilled into ``data_dir`` over the ``history_s`` before now), or emulated, with the reason in
    the world's note. None without an Airflow exporter."""
    target = second_exporter(world)
    if target is None:
        return None
    world.add(target)
    if not real:
        return target  # the run's note says it: real programs switched off
    why = why_not_real(rendered, missing, exporter)
    if why:
        world.note_emulated(f"{why}: {KEY} and the {SCENARIO} scenario are emulated")
        return target
    root = work / "airflow"
    home = root / "home"
    home.mkdir(parents=True)
    mapping = root / "airflow-statsd-mapping.yaml"
    mapping.write_text(rendered.statsd_mapping)
    udp_port, web_port = free_port(), free_port()
    version = statsd_exporter_version()
    program = RealProgram(f"statsd_exporter {KEY}", statsd_exporter_args(str(exporter()), mapping, udp_port, web_port),
                                   root / "statsd_exporter.log", f"http://127.0.0.1:{web_port}/metrics", procs)
    program.start()
    bind(world, KEY, f"127.0.0.1:{web_port}", f"statsd_exporter {version} with the stack's mapping, fed by Airflow {AIRFLOW.version}", program)
    if history_s > 0:
        until = time.time()
        _up_history(target, until - history_s, until, root, data_dir)
    runs = world.workloads[WORKLOAD] = AirflowRuns(procs, home, airflow_env(home, udp_port), pause=seconds(target.interval) + 5).prepare()
    servers.append(runs)
    log(f"real statsd_exporter {version} for {KEY} pid {program.proc.pid if program.proc else '-'}; "
        f"Airflow {AIRFLOW.version} preparing in the background (logs in {root})")
    return target


def dag_failed_needs(world: World, used: set[str]) -> Optional[list[str]]:
    """The scenario's target: the second exporter pod, when the world has it."""
    return [KEY] if KEY in world.targets and KEY not in used else None


def dag_failed(world: World, keys: list[str]) -> tuple[Step, Step, str]:
    """(break, restore, note) of ``airflow-dag-failed``: real failed runs where Airflow is real, else emulated ones."""
    runs = world.workloads.get(WORKLOAD)
    if runs is not None:
        return runs.fail, lambda t: None, (
            f"real Airflow {AIRFLOW.version}: `airflow dags test {FAILING}` fails {FAILED_RUNS} times from t0 (a TaskGroup task "
            f"raises, no retries; the second run a scrape later), StatsD to the real statsd_exporter of {KEY}, a second exporter "
            "pod of job airflow-statsd-exporter; restore: nothing to undo")
    target = world.targets[KEY]
    return (lambda t: emulated_failures(target, FAILING, t)), (lambda t: None), (
        f"EMULATED (no real Airflow in this run, see why emulated below): {KEY} serves {FAILED_RUNS} failed runs of {FAILING} "
        "from t0; restore: nothing to undo")
