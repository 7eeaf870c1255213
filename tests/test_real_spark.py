"""Spark for real: a PySpark 3.5.3 driver with our jmx_exporter javaagent, scraped and compared with the catalog.

A local Spark driver (``spark-submit --master local[1]`` from the PySpark venv `make test-live`
installs, tools/live_programs.py) runs on 127.0.0.1 with:

* the javaagent line of our SparkApplication example (components/spark/assets/
  spark-application-example.yaml, driver.javaOptions), pointed at the jar `make tools` fetched
  (jmx_prometheus_javaagent 0.20.0) and at a free port on 127.0.0.1;
* the JMX exporter config exactly as the prod stack deploys it: the ``config.yaml`` of the
  ``spark-jmx-config`` ConfigMap rendered under the mock engine;
* the example's sparkConf (JmxSink on every instance, ExecutorMetricsSource on).

It runs one job that succeeds and one that fails, then waits (bounded) while the test scrapes the
agent. Checked against the scrape:

* every Spark/JVM series our rules and dashboards read (derived: the names their expressions read,
  recording rules expanded, that docs/metrics/spark-jvm.yaml or jmx-exporter.yaml catalogue)
  appears with the catalogued type and label names, and survives the PodMonitor's keep filter;
* every entry of those two catalog files is exposed, unless it says with ``appears_when`` which
  condition makes it appear. Executor series (``<app-id>.<n>.executor.*`` and
  ``<app-id>.<n>.ExecutorMetrics.*`` beans) cannot appear here: in local mode the only executor is
  the driver itself (executor id "driver"), so its beans are ``<app-id>.driver.*``. Those entries
  say so, and the test checks they are indeed absent rather than silently skipping them.

Spark's PrometheusServlet is not used by our config (JmxSink + javaagent only), so it is not run.

Catalogued labels are what Prometheus stores: the agent's own labels plus the target labels the
PodMonitor (components/spark: relabelings) and the Prometheus Operator add. The test compares the
agent's labels with the catalogue minus those target labels.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import components.spark
from core.k8s import load_asset
from rules_util import iter_rules, load_catalog_entries, names_read_by_rules_and_dashboards
from tests.conftest import PROD_SECRETS, _cached_run
from tests.live import free_port, http_get, wait_until
from tests.live import stop as stop_process
from tools.live_programs import JMX_AGENT, PYSPARK

pytestmark = [pytest.mark.heavy, pytest.mark.live]

CATALOG_FILES = ("spark-jvm.yaml", "jmx-exporter.yaml")
CR = "kubernetes:monitoring.coreos.com/v1:{}"
# Labels the Prometheus Operator puts on every PodMonitor target (before our relabelings) and
# Prometheus' own job/instance: they are stored with each series, the agent never exposes them.
OPERATOR_TARGET_LABELS = frozenset({"namespace", "pod", "container", "endpoint", "job", "instance"})
# Labels that are part of a summary's/histogram's series, not of the metric.
SERIES_LABELS = frozenset({"quantile", "le"})

# Zero until the driver's first heartbeat samples its ExecutorMetrics.
HEARTBEAT_SAMPLED = "spark_driver_executormetrics_jvmheapmemory"
SUBMIT_TIMEOUT = 150.0  # driver start, both jobs, ready file
SCRAPE_TIMEOUT = 45.0  # until every expected series is exposed (ExecutorMetrics wait for a heartbeat)
HOLD_SECONDS = 240  # the driver's own bound on waiting for the stop file

DRIVER_SCRIPT = r'''
import json, os, sys, time
from pyspark.sql import SparkSession

ready, stop, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
spark = SparkSession.builder.appName("dataops-real-spark").getOrCreate()
sc = spark.sparkContext
total = sc.parallelize(range(10000), 2).map(lambda x: x * x).sum()

def boom(x):
    raise ValueError("dataops-monitoring: this job fails on purpose")

failure = None
try:
    sc.parallelize(range(10), 1).map(boom).collect()
except Exception as err:  # Py4JJavaError: the job was aborted
    failure = type(err).__name__
tracker = sc.statusTracker()
jobs = sorted(tracker.getJobIdsForGroup())
status = {str(j): str(tracker.getJobInfo(j).status) for j in jobs}
with open(ready + ".tmp", "w") as out:
    json.dump({"app_id": sc.applicationId, "sum": total, "failure": failure, "jobs": status}, out)
os.rename(ready + ".tmp", ready)
deadline = time.monotonic() + hold
while not os.path.exists(stop) and time.monotonic() < deadline:
    time.sleep(0.2)
spark.stop()
'''


def _require(ok: bool, what: str) -> None:
    """Missing prerequisite: a failure under CI=true (CI must not go green by skipping), a skip here."""
    if ok:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is missing on CI: `make test-live` (python -m tools.live_programs install --heavy) must provide it")
    pytest.skip(f"{what} not found: run `python -m tools.live_programs install --heavy`")


def _jar_ok() -> bool:
    return JMX_AGENT.path.exists() and hashlib.sha1(JMX_AGENT.path.read_bytes()).hexdigest() == JMX_AGENT.sha1


# ------------------------------------------------------------------ what we deploy and read


def _deployed() -> dict:
    """The JMX config and the Spark PodMonitor as the prod stack renders them."""
    run = _cached_run("prod", PROD_SECRETS)
    config_maps = [r for r in run.by_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == components.spark.JMX_CONFIGMAP]
    assert config_maps, "the prod stack renders no spark-jmx-config ConfigMap"
    configs = {cm.inputs["data"][components.spark.JMX_CONFIG_KEY] for cm in config_maps}
    assert len(configs) == 1, "the Spark namespaces get different JMX configs"
    endpoint = run.one(CR.format("PodMonitor"), "spark-applications").inputs["spec"]["podMetricsEndpoints"][0]
    keep = [r["regex"] for r in endpoint["metricRelabelings"] if r["action"] == "keep" and r["sourceLabels"] == ["__name__"]]
    assert len(keep) == 1, endpoint["metricRelabelings"]
    relabelled = {r["targetLabel"] for r in endpoint["relabelings"] if r.get("action", "replace") == "replace"}
    return {"jmx_config": configs.pop(), "keep": keep[0], "target_labels": OPERATOR_TARGET_LABELS | relabelled}


def _driver_launch(jar: Path, port: int, config: Path) -> tuple[list[str], list[str]]:
    """(--conf arguments, driver java options) of the example SparkApplication, made local."""
    app = load_asset(components.spark.__file__, "spark-application-example.yaml")["spec"]
    confs = [f"{key}={value}" for key, value in app["sparkConf"].items()]
    assert "spark.metrics.conf.*.sink.jmx.class=org.apache.spark.metrics.sink.JmxSink" in confs, confs
    driver = app["driver"]
    mount = next(m["mountPath"] for m in driver["volumeMounts"] if m["name"] == app["volumes"][0]["name"])
    options = driver["javaOptions"].split()
    agents = [i for i, o in enumerate(options) if o.startswith("-javaagent:")]
    assert len(agents) == 1, options
    m = re.fullmatch(r"-javaagent:(?P<jar>[^=]+)=(?P<port>\d+):(?P<config>\S+)", options[agents[0]])
    assert m, options[agents[0]]
    # The jar we run is the agent version the example deploys, reading the mounted ConfigMap key.
    assert Path(m["jar"]).name == jar.name, (m["jar"], jar)
    assert m["config"] == f"{mount}/{components.spark.JMX_CONFIG_KEY}", m["config"]
    assert int(m["port"]) == next(p["containerPort"] for p in driver["ports"] if p["name"] == components.spark.JMX_PORT_NAME)
    options[agents[0]] = f"-javaagent:{jar}=127.0.0.1:{port}:{config}"
    return confs, options


def _catalog() -> dict[str, dict]:
    """Sample name -> entry, for the two catalog files of the Spark JVM."""
    out = {}
    for path, entry in load_catalog_entries():
        if path.name in CATALOG_FILES:
            for suffix in entry.get("series") or [""]:
                out[entry["name"] + suffix] = dict(entry, catalog_file=path.name)
    return out


# ------------------------------------------------------------------------------ the driver


def _parse(text: str) -> dict[str, dict]:
    """Sample name -> {type, labels} of one scrape."""
    exposed: dict[str, dict] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            seen = exposed.setdefault(sample.name, {"type": family.type, "labels": set(), "values": [], "label_values": set()})
            seen["labels"].update(set(sample.labels) - SERIES_LABELS)
            seen["label_values"].update(sample.labels.items())
            seen["values"].append(sample.value)
    return exposed


def test_spark_driver_exposes_what_rules_and_dashboards_read(tmp_path: Path):
    _require(PYSPARK.installed and PYSPARK.bin("spark-submit").exists(), f"PySpark {PYSPARK.version} ({PYSPARK.venv})")
    _require(_jar_ok(), f"{JMX_AGENT.file_name} ({JMX_AGENT.path})")
    _require(shutil.which("java") is not None, "java (a JRE for Spark 3.5: 8, 11 or 17)")

    deployed = _deployed()
    config = tmp_path / "config.yaml"
    config.write_text(deployed["jmx_config"])
    port = free_port()
    confs, java_options = _driver_launch(JMX_AGENT.path, port, config)
    script, ready, stop = tmp_path / "driver_job.py", tmp_path / "ready.json", tmp_path / "stop"
    script.write_text(DRIVER_SCRIPT)
    local = [
        "spark.driver.host=127.0.0.1",
        "spark.driver.bindAddress=127.0.0.1",
        "spark.ui.enabled=false",
        "spark.driver.memory=512m",
        "spark.sql.shuffle.partitions=1",
        # The driver samples its ExecutorMetrics at each heartbeat (default 10 s, first one after
        # 10-20 s): sooner here so the scrape sees sampled values, not the initial zeros.
        "spark.executor.heartbeatInterval=2s",
    ]
    args = ["nice", "-n", "10", str(PYSPARK.bin("spark-submit")), "--master", "local[1]"]
    for conf in confs + local:
        args += ["--conf", conf]
    args += ["--driver-java-options", " ".join(java_options), str(script), str(ready), str(stop), str(HOLD_SECONDS)]
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_HOME", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR")}
    env.update(PYSPARK_PYTHON=str(PYSPARK.python), PYSPARK_DRIVER_PYTHON=str(PYSPARK.python), SPARK_LOCAL_IP="127.0.0.1")
    env["PATH"] = f"{PYSPARK.venv / 'bin'}:{env.get('PATH', '')}"

    log = tmp_path / "driver.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=tmp_path)
    try:
        def driver_ready() -> Optional[dict]:
            if proc.poll() is not None:
                raise AssertionError(f"spark-submit exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            return json.loads(ready.read_text()) if ready.exists() else None

        try:
            outcome = wait_until(driver_ready, SUBMIT_TIMEOUT, "the Spark driver's two jobs")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{log.read_text()[-4000:]}") from None
        # One job succeeded, one failed, as Spark itself reports them.
        assert outcome["sum"] == sum(x * x for x in range(10000)), outcome
        assert outcome["failure"], outcome
        assert sorted(outcome["jobs"].values()) == ["FAILED", "SUCCEEDED"], outcome

        catalog = _catalog()
        readers = {name: who for name, who in names_read_by_rules_and_dashboards().items() if name in catalog}
        assert readers, "no rule or dashboard reads a Spark JVM series: the derivation is broken"
        expected = {n for n in set(catalog) | set(readers) if not catalog[n].get("appears_when")}

        def scrape() -> Optional[dict]:
            if proc.poll() is not None:
                raise AssertionError(f"the driver exited early ({proc.returncode}):\n{log.read_text()[-4000:]}")
            exposed = _parse(http_get(f"http://127.0.0.1:{port}/metrics", timeout=5).decode())
            sampled = max(exposed.get(HEARTBEAT_SAMPLED, {}).get("values", [0])) > 0
            return exposed if expected <= set(exposed) and sampled else None

        try:
            exposed = wait_until(scrape, SCRAPE_TIMEOUT, "every catalogued Spark JVM series")
        except AssertionError:
            exposed = _parse(http_get(f"http://127.0.0.1:{port}/metrics", timeout=5).decode())
        (tmp_path / "scrape.txt").write_text(http_get(f"http://127.0.0.1:{port}/metrics", timeout=5).decode())
        stop.touch()
        proc.wait(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        stop_process(proc, grace=15)

    problems = []
    for name in sorted(set(catalog) | set(readers)):
        entry = catalog[name]
        where = f"{entry['catalog_file']}: {name}" + (f" (read by {', '.join(sorted(readers[name]))})" if name in readers else "")
        if entry.get("appears_when"):
            # Executor-only: in local mode the driver is the only executor, so these must be absent
            # (if one appears, the condition in the catalogue is wrong).
            if name in exposed:
                problems.append(f"{where}: exposed by a local driver although the catalogue says it appears only when {entry['appears_when']!r}")
            continue
        if name not in exposed:
            problems.append(f"{where}: not exposed by the driver")
            continue
        seen = exposed[name]
        if seen["type"] != entry["type"]:
            problems.append(f"{where}: type {seen['type']}, catalogued {entry['type']}")
        want = set(entry["labels"]) - deployed["target_labels"]
        if seen["labels"] != want:
            problems.append(f"{where}: agent labels {sorted(seen['labels'])}, catalogue minus target labels {sorted(want)}")
        uncatalogued = deployed["target_labels"] - set(entry["labels"]) - {"executor_id"}  # executor_id: executors only
        if uncatalogued:
            problems.append(f"{where}: target labels {sorted(uncatalogued)} the PodMonitor sets are not catalogued")
        if name in readers and not re.fullmatch(deployed["keep"], name):
            problems.append(f"{where}: dropped by the PodMonitor's keep filter {deployed['keep']!r}")
    # Equality matchers of the rules on the agent's own labels (area="heap") select real values.
    for path, _, rule in iter_rules():
        for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", rule["expr"]):
            if name not in exposed or name not in catalog:
                continue
            for label, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"', matchers):
                if label in exposed[name]["labels"] and (label, value) not in exposed[name]["label_values"]:
                    problems.append(f"{path.name}: {rule.get('record') or rule.get('alert')}: {name}{{{label}=\"{value}\"}} matches no series the driver exposes")
    assert not problems, "the real Spark driver differs from docs/metrics:\n" + "\n".join(problems)

    # The scrape is of this run: the agent version we pinned, a used heap, the driver's sampled
    # ExecutorMetrics, and Spark's own view of the two jobs (both seen; only the first one's
    # two tasks succeeded, the failing job's task did not).
    def values(name: str) -> list[float]:
        return exposed[name]["values"] if name in exposed else []

    build = [s for f in text_string_to_metric_families((tmp_path / "scrape.txt").read_text()) if f.name == "jmx_exporter_build_info" for s in f.samples]
    assert [s.labels.get("version") for s in build] == [JMX_AGENT.version], build
    assert max(values("jvm_memory_bytes_used"), default=0) > 0, exposed.get("jvm_memory_bytes_used")
    assert max(values(HEARTBEAT_SAMPLED), default=0) > 0, "the driver's heartbeat never sampled its ExecutorMetrics"
    assert values("spark_driver_dagscheduler_job_alljobs") == [2.0], exposed.get("spark_driver_dagscheduler_job_alljobs")
    assert values("spark_driver_executor_succeededtasks_total") == [2.0], exposed.get("spark_driver_executor_succeededtasks_total")
    assert proc.returncode == 0, log.read_text()[-4000:]
    print(f"real Spark: PySpark {PYSPARK.version}, {JMX_AGENT.file_name}; app {outcome['app_id']}; "
          f"{len(exposed)} sample names; driver ran {elapsed:.0f}s")


def test_catalog_says_when_executor_only_series_appear():
    """Executor beans exist only in executor JVMs (cluster mode); their entries must say so."""
    for _, entry in ((p, e) for p, e in load_catalog_entries() if p.name in CATALOG_FILES):
        if entry["name"].startswith("spark_executor_"):
            assert entry.get("appears_when"), entry["name"]
    # The JMX rules for executors need a numeric executor id in the bean name.
    rules = yaml.safe_load(_deployed()["jmx_config"])["rules"]
    assert any(r"\.\d+\." in r["pattern"] and r["name"].startswith("spark_executor_") for r in rules)
