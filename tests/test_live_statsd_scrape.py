"""Airflow's StatsD metrics through our statsd_exporter mapping into a real Prometheus 3 on
127.0.0.1, evaluating the rule groups the prod stack deploys (rendered under the mock engine).

What promtool cannot show: Prometheus 3 normalises classic-histogram ``le`` (and summary
``quantile``) label values when it scrapes, so the ``le="3600"`` statsd_exporter exposes is
stored as ``le="3600.0"``. promtool unit tests load series without a scrape and keep
``le="3600"``; only a real scrape shows whether a selector on ``le`` still matches.

Every ``dataops:airflow:*`` recording rule and every pipeline-latency SLO series must have a
sample, and the SLO's error ratio must be the share of slow successful runs we sent.

The exporter: the real prometheus/statsd_exporter v0.28.0 (the image version we deploy), which
`make tools` builds from our wrapper Go module (e2e/gomod/statsd_exporter) where Go is
installed. Debian (sid, trixie, bookworm, experimental) does not package it, so without Go the
test runs ``_StatsdStandIn`` (named as the STAND-IN in the test's output): an in-process StatsD (UDP)
receiver that applies our mapping file (glob mappings before regex ones, first match wins,
``match_metric_type``, ``$n`` labels, ``drop``, ``ttl``, timers ms -> s, histogram buckets) and serves
what statsd_exporter serves for it, in the text format its Go client writes (``le="3600"``).
Only what our mapping uses is implemented; anything else raises.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml

from tests.conftest import ROOT, with_secrets
from tests.live import built_program, free_port, http_get, prom_query, running, tool, wait_until
from tools.mock_engine import run_program, stack_config
from tools.live_airflow import statsd_exporter_args

pytestmark = pytest.mark.live

RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SLO_NAME = "pipeline-latency"
HOUR_MS = 3_600_000

# What Airflow (statsd_prefix "airflow") sends for finished DAG runs, tasks, heartbeats and
# pools, in two batches: counters and histograms need two scrapes that differ for rate().
# Successful runs in batch 2: three within the hour, one of two hours -> error ratio 1/4.
BATCH_1 = [
    "airflow.scheduler_heartbeat:1|c",
    "airflow.dagrun.duration.success.daily_etl:600000|ms",  # 10 min
    "airflow.ti.finish.daily_etl.extract.success:1|c",
    "airflow.ti.finish.daily_etl.extract.failed:1|c",
    "airflow.pool.open_slots.default_pool:128|g",
    "airflow.executor.open_slots:32|g",
    "airflow.dagrun.duration.success:600000|ms",  # Airflow >= 2.6 tag-style name: dropped
    # The inputs of AirflowDagImportErrors, AirflowPoolStarvingTasks, AirflowDagScheduleDelayHigh.
    "airflow.dag_processing.import_errors:0|g",
    "airflow.pool.starving_tasks.default_pool:0|g",
    "airflow.pool.starving_tasks:0|g",  # tag-style (pool tag lost over plain StatsD): dropped
    "airflow.dagrun.schedule_delay.daily_etl:30000|ms",  # 30 s late
    "airflow.dagrun.schedule_delay:30000|ms",  # tag-style: dropped
]
BATCH_2 = [
    "airflow.scheduler_heartbeat:1|c",
    "airflow.scheduler_heartbeat:1|c",
    "airflow.dagrun.duration.success.daily_etl:1200000|ms",  # 20 min
    "airflow.dagrun.duration.success.daily_etl:3000000|ms",  # 50 min
    "airflow.dagrun.duration.success.daily_etl:3540000.5|ms",  # 59 min
    "airflow.dagrun.duration.success.daily_etl:7200000|ms",  # 2 h: slow
    "airflow.dagrun.duration.failed.daily_etl:120000|ms",  # failed: on neither side of the SLO
    "airflow.ti.finish.daily_etl.transform_group__load.failed:1|c",  # TaskGroup task "transform_group.load" (Airflow 3.3: "." -> "__")
    "airflow.ti.finish.daily_etl.extract.failed:1|c",
    "airflow.pool.open_slots.default_pool:120|g",
    "airflow.dag_processing.import_errors:2|g",
    "airflow.pool.starving_tasks.default_pool:7|g",
    "airflow.dagrun.schedule_delay.daily_etl:600000|ms",  # 10 min late
]
EXPECTED_SLO_ERROR_RATIO = 0.25


def _mapping_file() -> Path:
    found = sorted(ROOT.glob("components/**/airflow-statsd-mapping.yaml"))
    assert len(found) == 1, f"expected one airflow-statsd-mapping.yaml under components/, found {found}"
    return found[0]


# ----------------------------------------------------------------- the StatsD stand-in


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as the Go client's text format writes numbers."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp10 = len(text) + exponent - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:  # shortest formatting switches to %e at exponent 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 >= len(text) - 1:
        return prefix + text + "0" * (exp10 - len(text) + 1)
    if exp10 >= 0:
        return prefix + text[: exp10 + 1] + "." + text[exp10 + 1 :]
    return prefix + "0." + "0" * (-exp10 - 1) + text


def _go_duration(text: str) -> float:
    """time.ParseDuration for the units a mapping's ttl uses (h, m, s), in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise NotImplementedError(f"stand-in does not parse the duration {text!r}")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


class _Mapping:
    TYPES = {"c": "counter", "g": "gauge", "ms": "observer", "h": "observer", "d": "observer"}

    def __init__(self, spec: dict):
        unknown = set(spec) - {"match", "match_type", "match_metric_type", "observer_type", "histogram_options", "name", "labels", "action", "ttl"}
        if unknown:
            raise NotImplementedError(f"stand-in does not implement mapping keys {sorted(unknown)}")
        self.is_regex = spec.get("match_type", "glob") == "regex"
        if self.is_regex:
            self.pattern = re.compile(spec["match"])
        else:
            self.pattern = re.compile("^" + r"\.".join("([^.]+)" if part == "*" else re.escape(part) for part in spec["match"].split(".")) + "$")
        self.metric_type = spec.get("match_metric_type")
        self.observer = spec.get("observer_type", "summary")
        self.buckets = tuple(float(b) for b in (spec.get("histogram_options") or {}).get("buckets", ()))
        self.name, self.labels, self.drop = spec["name"], dict(spec.get("labels") or {}), spec.get("action") == "drop"
        # statsd_exporter: a series not updated for ttl is removed (0 or unset: never).
        self.ttl = _go_duration(str(spec["ttl"])) if spec.get("ttl") else None

    def match(self, name: str, statsd_type: str) -> Optional[dict[str, str]]:
        if self.metric_type and self.metric_type != self.TYPES[statsd_type]:
            return None
        found = self.pattern.search(name)
        if not found:
            return None
        expand = lambda text: re.sub(r"\$\{?(\d+)\}?", lambda m: found.group(int(m.group(1))) or "", text)  # noqa: E731
        return {key: expand(value) for key, value in self.labels.items()}


class _StatsdStandIn:
    """StatsD over UDP on 127.0.0.1 -> our mapping -> /metrics, as statsd_exporter does it."""

    def __init__(self, mapping_file: Path):
        mappings = [_Mapping(m) for m in yaml.safe_load(mapping_file.read_text())["mappings"]]
        # statsd_exporter: glob mappings (its FSM) first, then regex mappings in file order.
        self.mappings = [m for m in mappings if not m.is_regex] + [m for m in mappings if m.is_regex]
        self.series: dict[tuple, dict] = {}
        self.lock = threading.Lock()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                body = stand_in.exposition().encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.http.serve_forever, daemon=True), threading.Thread(target=self._receive, daemon=True)]

    @property
    def udp_port(self) -> int:
        return self.udp.getsockname()[1]

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/metrics"

    def __enter__(self) -> "_StatsdStandIn":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.http.shutdown()
        self.http.server_close()
        for thread in self.threads:
            thread.join(timeout=5)
        self.udp.close()

    def _receive(self) -> None:
        while not self.stopping.is_set():
            try:
                packet = self.udp.recv(65535)
            except socket.timeout:
                continue
            for line in packet.decode().splitlines():
                if line.strip():
                    self.observe(line.strip())

    def observe(self, line: str) -> None:
        name, _, rest = line.partition(":")
        value_text, statsd_type, *extra = rest.split("|")
        if extra or statsd_type not in _Mapping.TYPES or value_text[:1] in "+-":
            raise NotImplementedError(f"stand-in does not implement {line!r}")
        value = float(value_text) / (1000.0 if statsd_type == "ms" else 1.0)
        for mapping in self.mappings:
            labels = mapping.match(name, statsd_type)
            if labels is None:
                continue
            if mapping.drop:
                return
            kind = _Mapping.TYPES[statsd_type]
            if kind == "observer" and mapping.observer != "histogram":
                raise NotImplementedError(f"stand-in implements histogram observers only ({mapping.name})")
            key = (mapping.name, tuple(sorted(labels.items())))
            with self.lock:
                entry = self.series.setdefault(key, {"kind": "histogram" if kind == "observer" else kind, "value": 0.0, "buckets": mapping.buckets, "counts": [0] * len(mapping.buckets), "sum": 0.0, "count": 0})
                entry["expires"] = time.monotonic() + mapping.ttl if mapping.ttl else math.inf
                if entry["kind"] == "counter":
                    entry["value"] += value
                elif entry["kind"] == "gauge":
                    entry["value"] = value
                else:
                    entry["sum"] += value
                    entry["count"] += 1
                    for i, bound in enumerate(entry["buckets"]):
                        if value <= bound:
                            entry["counts"][i] += 1
            return
        raise NotImplementedError(f"no mapping matched {name!r}, and our mapping ends with a catch-all drop")

    def exposition(self) -> str:
        def fmt(labels, extra=()):
            pairs = [*labels, *extra]
            return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else ""

        lines: list[str] = []
        with self.lock:
            now = time.monotonic()
            for key in [k for k, e in self.series.items() if e["expires"] <= now]:
                del self.series[key]
            for name in sorted({n for n, _ in self.series}):
                entries = sorted((labels, e) for (n, labels), e in self.series.items() if n == name)
                kind = entries[0][1]["kind"]
                lines += [f"# HELP {name} Metric autogenerated by statsd_exporter.", f"# TYPE {name} {kind}"]
                for labels, e in entries:
                    if kind != "histogram":
                        lines.append(f"{name}{fmt(labels)} {_go_float(e['value'])}")
                        continue
                    for bound, count in zip(e["buckets"], e["counts"]):
                        lines.append(f"{name}_bucket{fmt(labels, [('le', _go_float(bound))])} {count}")
                    lines.append(f"{name}_bucket{fmt(labels, [('le', '+Inf')])} {e['count']}")
                    lines.append(f"{name}_sum{fmt(labels)} {_go_float(e['sum'])}")
                    lines.append(f"{name}_count{fmt(labels)} {e['count']}")
        return "\n".join(lines) + "\n"


class _RealStatsdExporter:
    """prometheus/statsd_exporter v0.28.0, built by `make tools` (flags of v0.28)."""

    def __init__(self, binary: str, mapping_file: Path, log_dir: Path):
        self.udp_port, self.web_port = free_port(), free_port()
        self.args = statsd_exporter_args(binary, mapping_file, self.udp_port, self.web_port)
        self.metrics_url = f"http://127.0.0.1:{self.web_port}/metrics"
        self.log = log_dir / "statsd_exporter.log"

    def __enter__(self):
        self._running = running(self.args, self.log, self.metrics_url)
        self._running.__enter__()
        return self

    def __exit__(self, *exc):
        return self._running.__exit__(*exc)


def _send(udp_port: int, lines: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for line in lines:
            sock.sendto(line.encode(), ("127.0.0.1", udp_port))


# ----------------------------------------------------------------- Prometheus 3 on top


def _deployed_rule_groups(overrides: Optional[dict] = None) -> list[dict]:
    """The PrometheusRule groups `pulumi preview` of prod (with ``overrides``) would deploy, evaluated every second."""
    config, secret_keys = stack_config("prod", placeholder_secrets=False, overrides={**with_secrets(), **(overrides or {})})
    run = run_program("prod", config, secret_keys, preview=True)
    groups = [group for rule in run.by_type(RULE_CR) for group in rule.inputs["spec"]["groups"]]
    for group in groups:
        group["interval"] = "1s"
    return groups


def _samples(base: str, queries: list[str], timeout: float = 30) -> dict[str, list[dict]]:
    """Each query's result once every query has one; else fail naming those without a sample."""
    results: dict[str, list[dict]] = {}

    def all_there():
        results.update({q: prom_query(base, q) for q in queries if not results.get(q)})
        return all(results.values())

    try:
        wait_until(all_there, timeout, "samples")
    except AssertionError:
        missing = [q for q in queries if not results.get(q)]
        raise AssertionError(f"no sample after {timeout}s from Prometheus 3 for: {missing}") from None
    return results


def _records(groups: list[dict], prefix: str) -> list[str]:
    return sorted({r["record"] for g in groups for r in g["rules"] if r.get("record", "").startswith(prefix)})


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[tuple[str, list[dict]]]:
    tmp = tmp_path_factory.mktemp("statsd_scrape")
    prometheus_bin = tool("prometheus")
    groups = _deployed_rule_groups()
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True))
    mapping = _mapping_file()
    real = built_program("statsd_exporter")
    if real is None:
        print("statsd scrape: STAND-IN statsd_exporter (_StatsdStandIn): Go is not installed, `make tools` built none")
    exporter = _RealStatsdExporter(real, mapping, tmp) if real else _StatsdStandIn(mapping)
    prom_port = free_port()
    with exporter:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": [
                {"job_name": "airflow-statsd-exporter", "static_configs": [{"targets": [exporter.metrics_url.split("/")[2]]}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        args = [
            prometheus_bin,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        base = f"http://127.0.0.1:{prom_port}"
        with running(args, tmp / "prometheus.log", f"{base}/-/ready"):
            _send(exporter.udp_port, BATCH_1)
            wait_until(lambda: prom_query(base, "airflow_dagrun_duration_count"), 30, "the first batch scraped")
            _send(exporter.udp_port, BATCH_2)
            wait_until(lambda: prom_query(base, 'airflow_dagrun_duration_count{status="success"} >= 5'), 30, "the second batch scraped")
            yield base, groups


def test_prometheus_3_stores_le_normalised(prometheus):
    base, _ = prometheus
    # The cause of the SLO defect, pinned down: the exporter says le="3600", Prometheus 3 keeps "3600.0".
    assert prom_query(base, 'airflow_dagrun_duration_bucket{le="3600.0",status="success"}')
    assert prom_query(base, 'airflow_dagrun_duration_bucket{le="3600",status="success"}') == []
    # The tag-style name without dag_id was dropped by the mapping's catch-all.
    assert {r["metric"].get("dag_id") for r in prom_query(base, "airflow_dagrun_duration_count")} == {"daily_etl"}


def test_every_airflow_recording_rule_has_data(prometheus):
    base, groups = prometheus
    records = _records(groups, "dataops:airflow:")
    assert len(records) >= 5, records
    # A rule that looks an hour back (offset 1h: "was this series / target there an hour
    # ago?") has no sample in a Prometheus seconds old, by design; it must evaluate cleanly.
    needs_history = sorted({r["record"] for g in groups for r in g["rules"] if r.get("record") in records and "offset" in r["expr"]})
    _samples(base, [r for r in records if r not in needs_history])
    evaluated = {r["name"]: r for g in json.loads(http_get(f"{base}/api/v1/rules"))["data"]["groups"] for r in g["rules"]}
    assert {name: (evaluated[name]["health"], evaluated[name].get("lastError", "")) for name in needs_history} == {name: ("ok", "") for name in needs_history}
    failures = prom_query(base, "dataops:airflow:task_failures:rate5m")
    assert [r["metric"]["dag_id"] for r in failures] == ["daily_etl"]
    assert float(prom_query(base, "dataops:airflow:pool_open_slots")[0]["value"][1]) == 120.0


def test_pipeline_latency_slo_has_data_and_the_right_error_ratio(prometheus):
    base, groups = prometheus
    records = _records(groups, "dataops:slo:error_ratio:rate")
    assert len(records) >= 7, records
    queries = [f'{record}{{slo="{SLO_NAME}"}}' for record in records]
    _samples(base, [*queries, f'dataops:slo:error_budget_remaining{{slo="{SLO_NAME}"}}'])
    # Batch 2 added three successful runs within the hour and one of two hours: 1/4 once the
    # rules have evaluated a scrape of the whole batch (an earlier evaluation may have seen
    # part of it). increase() extrapolates bucket and count alike, up to rounding; the wrong
    # readings are far away (failed runs counted: 0.2 or 0.4; no good runs: 1).
    ratios: dict[str, float] = {}

    def settled():
        ratios.update({q: float(prom_query(base, q)[0]["value"][1]) for q in queries})
        return all(abs(v - EXPECTED_SLO_ERROR_RATIO) < 0.01 for v in ratios.values())

    try:
        wait_until(settled, 30, "the SLO error ratios to settle")
    except AssertionError:
        pass
    assert ratios == {q: pytest.approx(EXPECTED_SLO_ERROR_RATIO, abs=0.01) for q in queries}


def _alert_expr(groups: list[dict], alert: str) -> str:
    (expr,) = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == alert]
    return expr


def test_the_airflow_alerts_inputs_survive_the_mapping(prometheus):
    """What AirflowDagImportErrors, AirflowPoolStarvingTasks and AirflowDagScheduleDelayHigh
    read arrives in Prometheus 3 under the names and labels the rules use (the catch-all drop
    took pool.starving_tasks.<pool> and dagrun.schedule_delay.<dag_id> before), and each
    alert's deployed expression is true on what was sent."""
    base, groups = prometheus
    starving = prom_query(base, "airflow_pool_starving_tasks")
    # Only the per-pool name: the tag-style "pool.starving_tasks" (no pool) was dropped.
    assert [(r["metric"].get("pool"), float(r["value"][1])) for r in starving] == [("default_pool", 7.0)]
    assert float(prom_query(base, "airflow_dag_processing_import_errors")[0]["value"][1]) == 2.0
    # Timers arrive in ms and are stored in seconds; le normalised by Prometheus 3.
    delay = {q: prom_query(base, f'{q}{{dag_id="daily_etl"}}') for q in ("airflow_dagrun_schedule_delay_count", "airflow_dagrun_schedule_delay_sum")}
    assert [float(r["value"][1]) for r in delay["airflow_dagrun_schedule_delay_count"]] == [2.0]
    assert [float(r["value"][1]) for r in delay["airflow_dagrun_schedule_delay_sum"]] == [630.0]
    assert float(prom_query(base, 'airflow_dagrun_schedule_delay_bucket{dag_id="daily_etl", le="300.0"}')[0]["value"][1]) == 1.0
    assert {r["metric"]["dag_id"] for r in prom_query(base, "airflow_dagrun_schedule_delay_count")} == {"daily_etl"}
    for alert in ("AirflowDagImportErrors", "AirflowPoolStarvingTasks", "AirflowDagScheduleDelayHigh"):
        _samples(base, [_alert_expr(groups, alert)])
    # The mean delay sees the second run, not the first: the series was born with the first
    # one (count 1) and increase() needs two samples, as for every statsd histogram. increase()
    # extrapolates _sum and _count towards their zero points differently on so young a series,
    # so the mean is not exactly 600 s; it must stay above the 300 s the alert compares.
    mean = float(prom_query(base, 'dataops:airflow:dagrun_schedule_delay_seconds:avg1h{dag_id="daily_etl"}')[0]["value"][1])
    assert 300 < mean <= 630, mean


def test_a_pool_nobody_reports_on_leaves_after_the_mappings_ttl(monkeypatch):
    """Airflow sends no 0 for a pool whose starving tasks went away other than by being
    scheduled: the mapping's ttl removes the last count (stand-in's reading of statsd_exporter's
    ttl), while pool.open_slots (sent every few seconds, no ttl) stays."""
    stand_in = _StatsdStandIn(_mapping_file())
    try:
        stand_in.observe("airflow.pool.starving_tasks.etl_pool:4|g")
        stand_in.observe("airflow.pool.open_slots.etl_pool:0|g")
        assert 'airflow_pool_starving_tasks{pool="etl_pool"} 4' in stand_in.exposition()
        (ttl,) = [m.ttl for m in stand_in.mappings if m.name == "airflow_pool_starving_tasks"]
        assert ttl == 600
        later = time.monotonic() + ttl + 1
        monkeypatch.setattr(time, "monotonic", lambda: later)
        text = stand_in.exposition()
        assert "airflow_pool_starving_tasks" not in text and 'airflow_pool_open_slots{pool="etl_pool"} 0' in text
    finally:
        stand_in.http.server_close()
        stand_in.udp.close()


def _exposed_series(text: str, names: set[str]) -> dict[tuple, float]:
    """{(series name, sorted labels): value} of the series whose family is in ``names``."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in names
        for sample in family.samples
    }


def test_the_stand_in_exposes_what_the_real_exporter_does(tmp_path):
    """The stand-in that runs where Go is not installed, checked against the real
    statsd_exporter v0.28.0 on the same lines: the same series, labels and values for every
    name our mapping produces (the exporter's own go_/process_/statsd_exporter_ series aside)."""
    real = built_program("statsd_exporter")
    if real is None:
        pytest.skip("the real statsd_exporter is not built (`make tools` needs Go): nothing to compare with")
    mapping = _mapping_file()
    with _RealStatsdExporter(real, mapping, tmp_path) as exporter, _StatsdStandIn(mapping) as stand_in:
        for target in (exporter, stand_in):
            _send(target.udp_port, BATCH_1 + BATCH_2)
        ours = {m["name"] for m in yaml.safe_load(mapping.read_text())["mappings"] if m.get("action") != "drop"}
        expected_count = sum(1 for line in BATCH_1 + BATCH_2 if "dagrun.duration.success.daily_etl" in line)

        def real_has_everything():
            text = http_get(exporter.metrics_url).decode()
            count = _exposed_series(text, ours).get(("airflow_dagrun_duration_count", (("dag_id", "daily_etl"), ("status", "success"))))
            return text if count == expected_count else None

        real_text = wait_until(real_has_everything, 20, "the real exporter to count every line")
        wait_until(lambda: _exposed_series(stand_in.exposition(), ours).get(("airflow_dagrun_duration_count", (("dag_id", "daily_etl"), ("status", "success")))) == expected_count, 20, "the stand-in to count every line")
        real_series, stand_in_series = _exposed_series(real_text, ours), _exposed_series(stand_in.exposition(), ours)
    assert real_series, "the real exporter exposed none of our mapping's names"
    assert stand_in_series == real_series
