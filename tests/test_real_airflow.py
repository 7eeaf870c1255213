"""A real Airflow feeding the real statsd_exporter with our mapping, scraped by a real Prometheus 3
that evaluates the rule groups the prod stack deploys.

- Airflow: apache-airflow 3.3.2 from PyPI in its own venv (tools/live_programs.py ``AIRFLOW``,
  `make test-live` installs it; how it is run: tools/live_airflow.py, shared with the game day), AIRFLOW_HOME in the test's tmp dir, SQLite (`airflow db migrate`),
  ``[metrics] statsd_on`` to 127.0.0.1, ``statsd_prefix`` "airflow". The DAGs
  (tests/airflow_live/dags/dataops_live_dags.py) run through `airflow dags test`: a successful
  run, a slow successful run, another successful run and two failed runs (the failing task sits
  in a TaskGroup). While the slow run sleeps, `airflow dag-processor --num-runs 1` and
  `airflow scheduler --num-runs 8` (LocalExecutor, no serve-logs server) send what only they
  send: scheduler heartbeats, pool and executor gauges, the schedule delay of the hourly DAG's
  run, whose tasks wait for pool slots, and the DAG processor's import errors.
- `airflow dags test` leaves Airflow 3.3.2's core StatsD client uninitialised (only the scheduler,
  API server, DAG processor, triggerer and executors set it up), so the ``dagrun.duration.*``
  timers its DagRun.update_state sends would go nowhere; tests/airflow_live/airflow_with_stats.py
  sets the client up exactly as SchedulerJobRunner._execute does, then runs the CLI unchanged.
- Every datagram Airflow sends goes through ``_StatsdTee`` (a UDP relay on 127.0.0.1 that keeps
  each line) to prometheus/statsd_exporter v0.28.0 as `make tools` builds it; the lines are
  written to ``statsd-lines.txt`` in the test's tmp dir.
- Prometheus 3 (.tools/bin/prometheus) scrapes the exporter every second and evaluates the prod
  rule groups (helpers of tests/test_live_statsd_scrape.py) every second.

The pipeline-latency SLO's threshold is one hour (components/slo/settings.py DEFAULT_SLOS: the
``le="3600"`` bucket of airflow_dagrun_duration). The test does not wait an hour: it renders prod
with ``slos`` set to the default SLOs where pipeline-latency reads the mapping's smallest bucket,
``le="60"``, instead (nothing else changed, checked), and its slow run sleeps past 60 s. The bucket
a run lands in is what the SLO reads, so this is the same SLI with a smaller threshold.

``AirflowDagRunFailed`` (dataops:airflow:dagrun_failures:increase1h) counts a DAG's first failure
only when the exporter's target was already scraped an hour ago (``up offset 1h == 1``): by design
a Prometheus minutes old reports nothing. The test gives Prometheus that hour by backfilling only
``up`` of the exporter's target (promtool tsdb create-blocks-from openmetrics) over the two hours
before it starts; every Airflow series comes from the real run.

Every Airflow series our rules, SLO and dashboards read (the rules' names found in
docs/metrics/airflow-statsd.yaml) must be in Prometheus with the catalogued labels; one this run
cannot produce goes in ``NOT_EMITTED`` with the reason (none today), and the test fails if a
listed one appears. The exporter's own exposition is compared with the catalog as a whole
(names, types, label names), both ways.

Without the Airflow venv or the built exporter: skipped, or failed under CI=true.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml

from prometheus_client.parser import text_string_to_metric_families
from rules_util import load_catalog, promql_metric_names
from tests.conftest import ROOT
from tests.live import built_program, free_port, http_get, prom_query, running, stop, tool, wait_until
from tests.test_live_statsd_scrape import SLO_NAME, _deployed_rule_groups, _mapping_file, _RealStatsdExporter, _records, _samples
from tools.live_airflow import FAILING, FAILING_TASK, PIPELINE, SCHEDULED, airflow_command, airflow_env, airflow_missing, dags_test_args, migrate_command
from tools.mock_engine import PROJECT

pytestmark = [pytest.mark.heavy, pytest.mark.live]

# The scheduled DAG's pools: a task needing 2 slots of NARROW (1 slot), and one waiting for FULL (0).
NARROW_POOL, FULL_POOL = "dataops_live_narrow", "dataops_live_full"
SLOW_S = 62  # the slow run's task sleeps past the test SLO's 60 s bucket
TEST_SLO_LE = "60"  # the smallest bucket of our mapping's airflow_dagrun_duration
JOB = "airflow-statsd-exporter"
# Target labels the Kubernetes service discovery adds in a cluster; a static scrape has none.
K8S_TARGET_LABELS = {"namespace", "pod"}

# Series our rules read that this run of Airflow 3.3.2 does not produce, and why: none since the
# bounded scheduler and DAG processor runs (`airflow dags test` alone sends no scheduler_heartbeat,
# pool.open_slots/starving_tasks, dagrun.schedule_delay or dag_processing.import_errors).
NOT_EMITTED: dict[str, str] = {}


def _require(ok: bool, why: str) -> None:
    """Missing prerequisite: a failure under CI=true (CI must not go green by skipping), a skip elsewhere."""
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} on CI: `make test-live` must provide it")
    pytest.skip(why)


class _StatsdTee:
    """StatsD datagrams on 127.0.0.1: each kept (as lines) and forwarded unchanged to ``target_port``."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._relay, daemon=True)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def __enter__(self) -> "_StatsdTee":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _relay(self) -> None:
        while not self.stopping.is_set():
            try:
                packet = self.sock.recv(65535)
            except socket.timeout:
                continue
            self.sock.sendto(packet, self.target)
            with self.lock:
                self.lines.extend(line for line in packet.decode().splitlines() if line.strip())

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.lines)


# ----------------------------------------------------------------- what our stack reads


def _test_slos() -> list[dict]:
    """The default SLOs with pipeline-latency's threshold moved from the 3600 s bucket to 60 s."""
    from components.slo.settings import DEFAULT_SLOS

    slos = copy.deepcopy(list(DEFAULT_SLOS))
    (latency,) = [s for s in slos if s["name"] == SLO_NAME]
    prod_le = 'le=~"3600([.]0)?"'
    assert prod_le in latency["good"], f"the pipeline-latency SLO no longer reads {prod_le}: update this test ({latency['good']})"
    latency["good"] = latency["good"].replace(prod_le, f'le=~"{TEST_SLO_LE}([.]0)?"')
    return slos


def _airflow_catalog() -> dict[str, dict]:
    return {name: entry for name, entry in load_catalog().items() if entry["catalog_file"] == "airflow-statsd.yaml"}


def _read_by_stack(groups: list[dict]) -> dict[str, set[str]]:
    """Catalogued Airflow names (entry name -> series names) the deployed rules read.

    Dashboards read only dataops:airflow:* recordings (checked), so the rules and the SLO
    rules among ``groups`` are everything that reads Airflow's series."""
    catalog = _airflow_catalog()
    dashboard_sources = "\n".join(p.read_text() for p in sorted((ROOT / "dashboards").glob("*.py")))
    raw_in_dashboards = set(re.findall(r"\bairflow_[a-z_]+", dashboard_sources)) & set(catalog)
    assert not raw_in_dashboards, f"dashboards read Airflow series directly: {raw_in_dashboards}; add them here"
    read: dict[str, set[str]] = {}
    for group in groups:
        for rule in group["rules"]:
            for name in promql_metric_names(rule["expr"]) & set(catalog):
                read.setdefault(catalog[name]["name"], set()).add(name)
    return read


# ----------------------------------------------------------------- running Airflow


@dataclass
class _Run:
    """One bounded Airflow CLI command, run through airflow_with_stats.py (tools/live_airflow.py
    ``airflow_command``; the scheduler and DAG processor set the StatsD client up themselves again)."""

    key: str
    args: list[str]
    proc: Optional[subprocess.Popen] = None
    log: Optional[Path] = None
    seconds: float = 0.0

    def start(self, env: dict[str, str], logs: Path) -> "_Run":
        self.log = logs / f"{self.key}.log"
        self._began = time.monotonic()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                airflow_command(*self.args),
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=env["AIRFLOW_HOME"],
            )
        return self

    def wait(self, timeout: float) -> "_Run":
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc)
            raise AssertionError(f"airflow {' '.join(self.args)} ran over {timeout}s:\n{self.log.read_text()[-3000:]}") from None
        self.seconds = time.monotonic() - self._began
        return self


def _dags_test(key: str, dag_id: str, conf: Optional[dict] = None) -> _Run:
    return _Run(key, dags_test_args(dag_id, conf))


def _backfill_up(promtool: str, data: Path, instance: str) -> None:
    """``up{job, instance} 1`` every 15 s over the two hours before now: the target was scraped an hour ago."""
    now = int(time.time())
    lines = ["# TYPE up gauge"]
    lines += [f'up{{instance="{instance}",job="{JOB}"}} 1 {t}' for t in range(now - 7200, now - 60, 15)]
    source = data.parent / "up-history.om"
    source.write_text("\n".join([*lines, "# EOF", ""]))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)], check=True, capture_output=True, timeout=120)


@dataclass
class _World:
    base: str
    metrics_url: str
    groups: list[dict]
    lines: list[str]
    runs: dict[str, _Run]
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[_World]:
    _require(airflow_missing() is None, airflow_missing() or "")
    exporter_bin = built_program("statsd_exporter")
    _require(exporter_bin is not None, "statsd_exporter is not built (make tools, needs Go)")
    prometheus_bin, promtool = tool("prometheus"), tool("promtool")
    tmp = tmp_path_factory.mktemp("real_airflow")
    groups = _deployed_rule_groups({f"{PROJECT}:slos": _test_slos()})
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True))
    home, logs = tmp / "airflow-home", tmp / "logs"
    home.mkdir()
    logs.mkdir()

    with _RealStatsdExporter(exporter_bin, _mapping_file(), tmp) as exporter, _StatsdTee(exporter.udp_port) as tee:
        env = airflow_env(home, tee.port)
        target = exporter.metrics_url.split("/")[2]
        _backfill_up(promtool, tmp / "data", target)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [target]}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_port = free_port()
        base = f"http://127.0.0.1:{prom_port}"
        args = [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"]
        with running(args, tmp / "prometheus.log", f"{base}/-/ready", timeout=60):
            migrate = subprocess.run(migrate_command(), env=env, cwd=home, capture_output=True, text=True, timeout=600)
            assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

            runs: dict[str, _Run] = {}
            background: list[_Run] = []
            try:
                # The first run creates the dag's success series (count 1); the SLO reads
                # increase(), which a series' first observation does not show, as in prod.
                runs["first"] = _dags_test("first", PIPELINE).start(env, logs).wait(300)
                wait_until(lambda: prom_query(base, f'airflow_dagrun_duration_count{{dag_id="{PIPELINE}"}}'), 60, "the first run scraped")
                runs["slow"] = _dags_test("slow", PIPELINE, {"sleep_s": SLOW_S}).start(env, logs)
                background.append(runs["slow"])
                for key, dag_id in (("failed1", FAILING), ("failed2", FAILING), ("fast", PIPELINE)):
                    runs[key] = _dags_test(key, dag_id).start(env, logs).wait(300)
                    if key == "failed1":  # the second failure must be a second sample for rate()
                        wait_until(lambda: prom_query(base, f'airflow_dagrun_duration_count{{dag_id="{FAILING}"}}'), 60, "the first failure scraped")
                # While the slow run sleeps: the DAG processor's parsing loop once, then the
                # scheduler for eight loops (its serve-logs server is not started: it would
                # listen on every interface). The scheduled DAG's task waits for a pool slot.
                pools = {NARROW_POOL: {"slots": 1, "description": "narrower than a task"}, FULL_POOL: {"slots": 0, "description": "no slot"}}
                (tmp / "pools.json").write_text(json.dumps(pools))
                runs["pool"] = _Run("pool", ["pools", "import", str(tmp / "pools.json")]).start(env, logs).wait(120)
                runs["dag-processor"] = _Run("dag-processor", ["dag-processor", "--num-runs", "1"]).start(env, logs).wait(180)
                runs["scheduler"] = _Run("scheduler", ["scheduler", "--num-runs", "8", "--skip-serve-logs"]).start(env, logs).wait(180)
                runs["slow"].wait(SLOW_S + 300)
            finally:
                for run in background:
                    if run.proc is not None:
                        stop(run.proc)
            wait_until(lambda: prom_query(base, f'airflow_dagrun_duration_count{{dag_id="{PIPELINE}",status="success"}} >= 3'), 60, "the three later runs scraped")
            lines = tee.snapshot()
            (tmp / "statsd-lines.txt").write_text("\n".join(lines) + "\n")
            print(f"real airflow: {len(lines)} statsd lines in {tmp / 'statsd-lines.txt'}; runs: " + ", ".join(f"{k} {r.seconds:.0f}s rc={r.proc.returncode}" for k, r in runs.items()))
            yield _World(base, exporter.metrics_url, groups, lines, runs, tmp)


# ----------------------------------------------------------------- the tests


def _ms(lines: list[str], name: str) -> list[float]:
    return [float(line.split(":", 1)[1].split("|")[0]) for line in lines if line.split(":", 1)[0] == name and line.endswith("|ms")]


def test_the_runs_ended_as_planned(world):
    codes = {key: run.proc.returncode for key, run in world.runs.items()}
    assert codes == {"first": 0, "slow": 0, "failed1": 1, "failed2": 1, "fast": 0, "pool": 0, "dag-processor": 0, "scheduler": 0}
    assert world.runs["slow"].seconds > SLOW_S


def test_airflow_sent_the_lines_our_mapping_expects(world):
    """The legacy (dotted) names our mapping reads, as Airflow 3.3.2 really sends them."""
    lines = world.lines
    names = {line.split(":", 1)[0] for line in lines}
    success = sorted(_ms(lines, f"airflow.dagrun.duration.success.{PIPELINE}"))
    assert len(success) == 3 and success[1] < int(TEST_SLO_LE) * 1000 < SLOW_S * 1000 < success[2], success
    assert len(_ms(lines, f"airflow.dagrun.duration.failed.{FAILING}")) == 2
    # A TaskGroup task's id "transform_group.load" is sent with its dots replaced by "__"
    # (Airflow 3.3 keeps legacy names' segments intact), so task_id="transform_group__load".
    assert f"airflow.ti.finish.{FAILING}.{FAILING_TASK}.failed" in names
    assert f"airflow.ti.finish.{FAILING}.transform_group.load.failed" not in names
    assert f"airflow.ti.finish.{PIPELINE}.extract.success" in names
    assert f"airflow.dag.{PIPELINE}.extract.duration" in names
    assert {"airflow.ti_failures", "airflow.ti_successes"} <= names
    # The tag-style names Airflow sends next to them carry no tags over plain StatsD (the
    # mapping's catch-all drops them); nothing is sent with a sample rate or tags.
    assert {"airflow.dagrun.duration.success", "airflow.dagrun.duration.failed", "airflow.ti.finish", "airflow.task.duration"} <= names
    assert [line for line in lines if "|@" in line or "|#" in line] == []
    # The bounded scheduler and DAG processor runs.
    assert "airflow.scheduler_heartbeat:1|c" in lines
    # A task that does not fit its pool is counted every loop. A pool with no open slot when a
    # loop starts is left out of the loop's query (SchedulerJobRunner._executable_task_instances_to_queued:
    # starved_pools), so nothing is sent for the task waiting for it, not even a 0.
    assert f"airflow.pool.starving_tasks.{NARROW_POOL}:1|g" in lines
    assert [line for line in lines if line.startswith(f"airflow.pool.starving_tasks.{FULL_POOL}:")] == []
    assert f"airflow.pool.open_slots.{FULL_POOL}:0|g" in lines
    assert any(line.startswith("airflow.pool.open_slots.default_pool:") for line in lines)
    assert len(_ms(lines, f"airflow.dagrun.schedule_delay.{SCHEDULED}")) == 1
    assert "airflow.dag_processing.import_errors:0|g" in lines


def test_the_scheduler_series_arrive_under_our_names(world):
    base = world.base
    # Both pools' waiting tasks: NARROW's from pool.starving_tasks, FULL's (for which the
    # scheduler sends none) from pool.scheduled_slots of a pool with no open slot.
    starving = sorted((r["metric"]["pool"], float(r["value"][1])) for r in prom_query(base, "dataops:airflow:pool_starving_tasks > 0"))
    assert starving == [(FULL_POOL, 1.0), (NARROW_POOL, 1.0)]
    assert "default_pool" in {r["metric"]["pool"] for r in prom_query(base, "dataops:airflow:pool_open_slots")}
    assert [r["metric"]["dag_id"] for r in prom_query(base, "airflow_dagrun_schedule_delay_count")] == [SCHEDULED]
    assert prom_query(base, "airflow_scheduler_heartbeat")
    assert [float(r["value"][1]) for r in prom_query(base, "airflow_dag_processing_import_errors")] == [0.0]


def test_every_series_our_rules_read_is_there_or_explained(world):
    read = _read_by_stack(world.groups)
    catalog = _airflow_catalog()
    assert set(NOT_EMITTED) <= set(read), f"listed as not emitted but read by no rule: {set(NOT_EMITTED) - set(read)}"
    present, problems = {}, []
    for series in read.values():
        for name in sorted(series):
            found = prom_query(world.base, f'{{__name__="{name}",job="{JOB}"}}')
            present[name] = bool(found)
            if not found:
                continue
            entry = catalog[name]
            expected = set(entry["labels"]) - K8S_TARGET_LABELS
            if name != entry["name"] + "_bucket":
                expected.discard("le")  # only a histogram's _bucket series has le
            if name != entry["name"]:
                expected.discard("quantile")  # only a summary's own series has quantile
            for sample in found:
                if set(sample["metric"]) - {"__name__"} != expected:
                    problems.append(f"{name}: labels {sorted(set(sample['metric']) - {'__name__'})}, catalog says {sorted(expected)}")
    missing = {catalog[n]["name"] for n, ok in present.items() if not ok}
    assert not problems, "\n".join(problems)
    assert missing == set(NOT_EMITTED), (
        f"missing: {sorted(missing - set(NOT_EMITTED))}; listed as not emitted but present: {sorted(set(NOT_EMITTED) - missing)}"
    )


def test_airflow_dag_run_failed_fires_for_the_failing_dag(world):
    def firing():
        alerts = json.loads(http_get(f"{world.base}/api/v1/alerts"))["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "AirflowDagRunFailed" and a["state"] == "firing"]

    alerts = wait_until(firing, 30, "AirflowDagRunFailed firing")
    # Two failed runs of the failing DAG, none of the pipeline; the scheduled DAG's run cannot
    # end while the scheduler runs (its task waits for a pool slot).
    assert sorted((a["labels"]["dag_id"], float(a["value"])) for a in alerts) == [(FAILING, 2.0)]
    failures = prom_query(world.base, "dataops:airflow:task_failures:rate5m > 0")
    assert [r["metric"]["dag_id"] for r in failures] == [FAILING]


def test_pipeline_latency_sli_sees_the_slow_run(world):
    base = world.base
    # The slow run is the one successful run over the 60 s bucket.
    assert float(prom_query(base, f'airflow_dagrun_duration_count{{dag_id="{PIPELINE}",status="success"}}')[0]["value"][1]) == 3.0
    assert float(prom_query(base, f'airflow_dagrun_duration_bucket{{dag_id="{PIPELINE}",status="success",le="{TEST_SLO_LE}.0"}}')[0]["value"][1]) == 2.0
    records = _records(world.groups, "dataops:slo:error_ratio:rate")
    _samples(base, [f'{record}{{slo="{SLO_NAME}"}}' for record in records])
    # After the series' first run: the slow run and a fast one, both successful; the two
    # failed runs count on neither side -> 1/2 in every window that holds the whole run (30m+).
    long_windows = [r for r in records if r != "dataops:slo:error_ratio:rate5m"]
    ratios: dict[str, float] = {}

    def settled():
        ratios.update({r: float(prom_query(base, f'{r}{{slo="{SLO_NAME}"}}')[0]["value"][1]) for r in long_windows})
        return all(abs(v - 0.5) < 0.01 for v in ratios.values())

    try:
        wait_until(settled, 30, "the pipeline-latency error ratios to settle")
    except AssertionError:
        pass
    assert ratios == {r: pytest.approx(0.5, abs=0.01) for r in long_windows}


def test_the_exporter_exposes_what_the_catalog_says(world):
    """docs/metrics/airflow-statsd.yaml against what the real statsd_exporter exposes after this
    run: each catalogued name with its type and label names, and no Airflow name it does not list
    (statsd_exporter's own go_*/process_*/statsd_exporter_* metrics aside)."""
    exposed = {
        family.name: (family.type, {label for sample in family.samples for label in sample.labels})
        for family in text_string_to_metric_families(http_get(world.metrics_url).decode())
        if family.name.startswith("airflow_")
    }
    catalogued = {entry["name"]: entry for entry in _airflow_catalog().values()}
    expected = {
        name: (entry["type"], set(entry["labels"]) - K8S_TARGET_LABELS - {"job", "instance"})
        for name, entry in catalogued.items()
    }
    assert exposed == expected
