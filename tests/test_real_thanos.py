"""Real Thanos v0.42.4 (built by `make tools`) with the flags our Thanos component renders for prod:
two Prometheus 3 replicas with our external labels and their sidecars, a bucket (Thanos'
filesystem objstore), Store Gateway, Compactor, Query and the Thanos Ruler evaluating our
long-window SLO rules through Query.

What it shows, with 30 days of backfilled history compacted, downsampled and cut by the
Compactor with prod's retention (raw 15d):
- Query deduplicates the replica pair (one series per pair; two without dedup);
- the 30-day error budget the Ruler records covers the whole window: the platform-availability
  SLI is 0.99 for the older 15 days and 1.0 since. An instant query restricted to raw data
  (max_source_resolution=0s, what Query did before
  ``--query.instant.default.max_source_resolution=1h``) sees only the days raw blocks hold
  (15 days plus the rest of the oldest kept block); with our flags a plain avg_over_time sees
  30 days but weighs raw minutes against downsampled hours by sample count, so the budget rule
  takes a mean of hourly means (budgetErrorRatio), which the Ruler records right.

Only loopback addresses: every ``0.0.0.0`` listen address and every in-cluster endpoint of the
rendered flags is replaced by a 127.0.0.1 port (``tools.loopback.localised``); the few flags
the test adds or drops are listed where it does so, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.conftest import ROOT, with_secrets
from tests.live import built_program, free_port, http_get, running, tool, wait_until
from tools.loopback import localised
from tools.mock_engine import run_program, stack_config

pytestmark = [pytest.mark.live, pytest.mark.heavy]

DAY_S = 86_400
HISTORY_DAYS = 30
STEP_S = 60  # one SLI sample a minute (the SLI is recorded every 30 s in the cluster)
OLD_AVAILABILITY = 0.99  # 30..15 days ago: a bad fortnight, ten times the 99.9 % budget
NEW_AVAILABILITY = 1.0  # the last 15 days: perfect
SLI = "dataops:sli:platform_availability"
SLO = "platform-availability"
# The SLI's 30-day mean as the budget rule computes it (budgetErrorRatio): a mean of hourly means.
HOURLY_MEANS = f"avg_over_time(avg_over_time({SLI}[60m])[30d:60m])"
REPLICA_NAMES = ("prometheus-kube-prometheus-stack-prometheus-0", "prometheus-kube-prometheus-stack-prometheus-1")
# The label the operator adds to every Prometheus' external labels (namespace/name of the CR).
PROMETHEUS_LABEL = ("prometheus", "monitoring/kube-prometheus-stack-prometheus")


@dataclass(frozen=True)
class Rendered:
    query: list[str]
    store: list[str]
    compact: list[str]
    external_labels: dict[str, str]
    replica_label: str
    ruler_groups: list[dict]
    ruler_labels: dict[str, str]
    retention_raw: str


def _container_args(run, kind: str, name: str) -> list[str]:
    (container,) = run.one(f"kubernetes:apps/v1:{kind}", name).inputs["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    config, secret_keys = stack_config("prod", placeholder_secrets=False, overrides=with_secrets())
    run = run_program("prod", config, secret_keys, preview=True)
    values = run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack").inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    (ruler,) = run.by_type("kubernetes:monitoring.coreos.com/v1:ThanosRuler")
    long_windows = run.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "dataops-slo-long-windows")
    compact = _container_args(run, "StatefulSet", "thanos-compact")
    (retention_raw,) = [f.split("=", 1)[1] for f in compact if f.startswith("--retention.resolution-raw=")]
    return Rendered(
        query=_container_args(run, "Deployment", "thanos-query"),
        store=_container_args(run, "StatefulSet", "thanos-store"),
        compact=compact,
        external_labels=dict(spec["externalLabels"]),
        replica_label=spec["replicaExternalLabelName"],
        ruler_groups=long_windows.inputs["spec"]["groups"],
        ruler_labels=dict(ruler.inputs["spec"]["labels"]),
        retention_raw=retention_raw,
    )


def test_prod_renders_what_this_test_relies_on(rendered):
    """The premises: prod keeps raw blocks 15 days, its Query has auto-downsampling and the
    instant default of 1h, and the SLI's 30-day budget is a Ruler rule."""
    assert rendered.retention_raw == "15d"
    assert "--query.auto-downsampling" in rendered.query
    assert "--query.instant.default.max_source_resolution=1h" in rendered.query
    exprs = [r["expr"] for g in rendered.ruler_groups for r in g["rules"] if r.get("labels", {}).get("slo") == SLO and r.get("record")]
    assert exprs and HOURLY_MEANS in exprs[0]


# ------------------------------------------------------------------ flags, made loopback-only


def _thanos(binary: str, flags: list[str], log: Path, http_port: int, timeout: float = 60.0):
    return running([binary, *flags], log, f"http://127.0.0.1:{http_port}/-/ready", timeout=timeout)


def _label_flags(labels: dict[str, str]) -> list[str]:
    return [f'--label={k}="{v}"' for k, v in sorted(labels.items())]


# ------------------------------------------------------------------ the 30 days of history


def _backfill(promtool: str, thanos: str, work: Path, objstore: Path, labels: dict[str, str], now_s: int) -> int:
    """30 days of the SLI as 2h TSDB blocks (promtool), uploaded by Thanos' own shipper with
    the replica's external labels, as its sidecar would have; returns the block count."""
    start = now_s - HISTORY_DAYS * DAY_S
    half = now_s - HISTORY_DAYS * DAY_S // 2
    lines = [f"# HELP {SLI} backfilled platform availability SLI", f"# TYPE {SLI} gauge"]
    for t in range(start, now_s, STEP_S):
        lines.append(f"{SLI} {OLD_AVAILABILITY if t < half else NEW_AVAILABILITY} {t}")
    lines.append("# EOF")
    (work / "history.om").write_text("\n".join(lines) + "\n")
    blocks = work / "blocks"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "history.om"), str(blocks)], check=True, capture_output=True, timeout=300)
    count = sum(1 for p in blocks.iterdir() if (p / "meta.json").exists())
    subprocess.run(
        [thanos, "tools", "bucket", "upload-blocks", f"--objstore.config-file={objstore}", f"--path={blocks}", *_label_flags(labels)],
        check=True, capture_output=True, timeout=300,
    )
    return count


def _bucket_blocks(bucket: Path) -> list[dict]:
    return [json.loads((p / "meta.json").read_text()) for p in bucket.iterdir() if (p / "meta.json").exists()]


# ------------------------------------------------------------------ the whole setup


@dataclass
class World:
    query: str  # base URL of Thanos Query
    ruler: str  # base URL of the Thanos Ruler
    blocks_backfilled: int
    blocks_after_compaction: list[dict]
    compaction_seconds: float
    now_s: int
    metrics_urls: dict[str, str]  # part -> its /metrics URL (sidecar, store, query, rule, compact)


def _query(base: str, promql: str, **params: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql, **params})}"
    body = json.loads(http_get(url))
    assert body.get("status") == "success", body
    return body["data"]["result"]


@pytest.fixture(scope="module")
def world(rendered, tmp_path_factory) -> Iterator[World]:
    thanos = built_program("thanos")
    if thanos is None:
        pytest.skip("Thanos is not built: `make tools` builds it where Go is installed")
    prometheus, promtool = tool("prometheus"), tool("promtool")
    work = tmp_path_factory.mktemp("thanos")
    bucket = work / "bucket"
    bucket.mkdir()
    objstore = work / "objstore.yml"
    objstore.write_text(yaml.safe_dump({"type": "FILESYSTEM", "config": {"directory": str(bucket)}}))
    now_s = int(time.time())
    replica_labels = [{**rendered.external_labels, PROMETHEUS_LABEL[0]: PROMETHEUS_LABEL[1], rendered.replica_label: name} for name in REPLICA_NAMES]
    backfilled = _backfill(promtool, thanos, work, objstore, replica_labels[0], now_s)

    # The Compactor with prod's flags, once. Changed for the test: no --wait/--wait-interval
    # (one pass, then exit); --consistency-delay=0s and --delete-delay=0s, because the blocks
    # were uploaded seconds ago (the default delay skips blocks younger than 30 min) and a
    # deletion mark would otherwise keep retention's victims for prod's 48 h.
    compact_port = free_port()
    compact_flags = [f for f in rendered.compact if not f.startswith(("--wait", "--delete-delay="))]
    compact_flags = localised(compact_flags, http_address=f"127.0.0.1:{compact_port}", objstore_config_file=str(objstore), data_dir=str(work / "compact"))
    compact_flags += ["--consistency-delay=0s", "--delete-delay=0s"]
    # Two passes, as --wait runs them 5 minutes apart: the first compacts, downsamples and marks
    # the raw blocks past retention for deletion; the second deletes what is marked (prod: 48 h
    # later; the Store Gateway stops serving a marked block after 24 h).
    started = time.monotonic()
    for compaction in (1, 2):
        with open(work / f"compact{compaction}.log", "wb") as log:
            done = subprocess.run([thanos, *compact_flags], stdout=log, stderr=subprocess.STDOUT, timeout=600)
        assert done.returncode == 0, (work / f"compact{compaction}.log").read_text()[-3000:]
    compaction_seconds = time.monotonic() - started
    after = _bucket_blocks(bucket)

    ports = {name: free_port() for name in ("store_http", "store_grpc", "query_http", "query_grpc", "ruler_http", "ruler_grpc")}
    with contextlib.ExitStack() as stack:
        # Two Prometheus replicas, as the operator runs them for the Thanos sidecar: local
        # compaction off (min = max block duration 2h), our external labels plus the
        # operator's prometheus/replica labels. Both scrape the same target.
        prom_ports = [free_port() for _ in REPLICA_NAMES]
        sidecar_ports = [(free_port(), free_port()) for _ in REPLICA_NAMES]
        for i, (labels, port) in enumerate(zip(replica_labels, prom_ports)):
            config = {
                "global": {"scrape_interval": "1s", "external_labels": labels},
                "scrape_configs": [{"job_name": "shared-target", "static_configs": [{"targets": [f"127.0.0.1:{prom_ports[0]}"]}]}],
            }
            (work / f"prom{i}.yml").write_text(yaml.safe_dump(config))
            stack.enter_context(running([
                prometheus, f"--config.file={work / f'prom{i}.yml'}", f"--storage.tsdb.path={work / f'prom{i}'}",
                f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h",
            ], work / f"prom{i}.log", f"http://127.0.0.1:{port}/-/ready"))
            http_port, grpc_port = sidecar_ports[i]
            # The sidecar as the operator configures it (prometheus-operator pkg/prometheus
            # statefulset: --prometheus.url, --tsdb.path, --grpc-address, --http-address,
            # --objstore.config-file when the bucket is set).
            stack.enter_context(_thanos(thanos, [
                "sidecar", f"--prometheus.url=http://127.0.0.1:{port}", f"--tsdb.path={work / f'prom{i}'}",
                f"--grpc-address=127.0.0.1:{grpc_port}", f"--http-address=127.0.0.1:{http_port}", f"--objstore.config-file={objstore}",
            ], work / f"sidecar{i}.log", http_port))
        stack.enter_context(_thanos(thanos, localised(
            rendered.store, http_address=f"127.0.0.1:{ports['store_http']}", grpc_address=f"127.0.0.1:{ports['store_grpc']}",
            objstore_config_file=str(objstore), data_dir=str(work / "store"),
        ), work / "store.log", ports["store_http"], timeout=120))
        endpoints = {"endpoints": [{"address": f"127.0.0.1:{p}"} for p in [ports["store_grpc"], ports["ruler_grpc"], *(g for _, g in sidecar_ports)]]}
        stack.enter_context(_thanos(thanos, localised(
            rendered.query, http_address=f"127.0.0.1:{ports['query_http']}", grpc_address=f"127.0.0.1:{ports['query_grpc']}",
            endpoint_sd_config=json.dumps(endpoints),
        ), work / "query.log", ports["query_http"]))
        query = f"http://127.0.0.1:{ports['query_http']}"

        # The Thanos Ruler with our long-window rules, as the operator runs it from our
        # ThanosRuler spec (queryEndpoints -> --query, labels -> --label, the replica label).
        # Changed for the test: evaluated every 2 s instead of 1m.
        groups = [{**g, "interval": "2s"} for g in rendered.ruler_groups]
        (work / "ruler-rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
        stack.enter_context(_thanos(thanos, [
            "rule", f"--data-dir={work / 'ruler'}", f"--rule-file={work / 'ruler-rules.yaml'}",
            f"--query=127.0.0.1:{ports['query_http']}", f"--http-address=127.0.0.1:{ports['ruler_http']}",
            f"--grpc-address=127.0.0.1:{ports['ruler_grpc']}", "--eval-interval=2s",
            # Our spec sends alerts to Alertmanager; here a loopback port nobody answers.
            f"--alertmanagers.url=http://127.0.0.1:{free_port()}",
            *_label_flags({**rendered.ruler_labels, "thanos_ruler_replica": "thanos-ruler-dataops-0"}),
        ], work / "ruler.log", ports["ruler_http"]))
        ruler = f"http://127.0.0.1:{ports['ruler_http']}"
        # The Compactor as it runs in the cluster (--wait, prod's flags), for its own metrics.
        compact_port = free_port()
        waiting = localised(rendered.compact, http_address=f"127.0.0.1:{compact_port}", objstore_config_file=str(objstore), data_dir=str(work / "compact-wait"))
        stack.enter_context(_thanos(thanos, waiting, work / "compact-wait.log", compact_port))
        metrics_urls = {
            "sidecar": f"http://127.0.0.1:{sidecar_ports[0][0]}/metrics", "store": f"http://127.0.0.1:{ports['store_http']}/metrics",
            "query": f"{query}/metrics", "rule": f"{ruler}/metrics", "compact": f"http://127.0.0.1:{compact_port}/metrics",
        }
        wait_until(lambda: _query(query, 'up{job="shared-target"}', dedup="false") and len(_query(query, 'up{job="shared-target"}', dedup="false")) == 2, 60, "both replicas' scrapes in Query")
        yield World(query, ruler, backfilled, after, compaction_seconds, now_s, metrics_urls)


# ------------------------------------------------------------------ the checks


def test_query_deduplicates_the_replica_pair(world, rendered):
    raw = _query(world.query, 'up{job="shared-target"}', dedup="false")
    assert sorted(r["metric"][rendered.replica_label] for r in raw) == sorted(REPLICA_NAMES)
    deduplicated = _query(world.query, 'up{job="shared-target"}')
    assert len(deduplicated) == 1 and rendered.replica_label not in deduplicated[0]["metric"]


def _coverage_start_ms(world: World, resolutions: set[int]) -> int:
    """Oldest sample time the blocks of ``resolutions`` hold (the bucket after compaction)."""
    return min(m["minTime"] for m in world.blocks_after_compaction if m["thanos"]["downsample"]["resolution"] in resolutions)


def _expected_average(world: World, from_ms: int) -> float:
    """The SLI's mean over the 30-day window from ``from_ms`` on, from what was backfilled."""
    start = world.now_s - HISTORY_DAYS * DAY_S
    half = world.now_s - HISTORY_DAYS * DAY_S // 2
    window_start = max(from_ms / 1000, world.now_s - HISTORY_DAYS * DAY_S)
    samples = [OLD_AVAILABILITY if t < half else NEW_AVAILABILITY for t in range(start, world.now_s, STEP_S) if t >= window_start]
    return sum(samples) / len(samples)


def test_the_compactor_downsampled_and_cut_raw_blocks_after_retention(world, rendered):
    print(f"thanos: {world.blocks_backfilled} blocks backfilled; after two Compactor passes ({world.compaction_seconds:.1f} s): {len(world.blocks_after_compaction)} blocks")
    by_resolution: dict[int, list[dict]] = {}
    for meta in world.blocks_after_compaction:
        by_resolution.setdefault(meta["thanos"]["downsample"]["resolution"], []).append(meta)
    print("thanos: blocks by resolution:", {res: len(metas) for res, metas in sorted(by_resolution.items())})
    assert {0, 300_000, 3_600_000} <= set(by_resolution), "raw, 5m and 1h blocks expected"
    now_ms = world.now_s * 1000
    # Retention deletes a raw block once its newest sample is older than 15 days ...
    assert all(m["maxTime"] >= now_ms - 15 * DAY_S * 1000 for m in by_resolution[0])
    # ... so raw data reaches back 15 days plus the rest of the oldest kept block (compacted up
    # to 14 days, aligned on the epoch): between 15 and 29 days, depending on the date.
    raw_days = (now_ms - _coverage_start_ms(world, {0})) / 1000 / DAY_S
    all_days = (now_ms - _coverage_start_ms(world, {0, 300_000, 3_600_000})) / 1000 / DAY_S
    print(f"thanos: raw blocks reach back {raw_days:.2f} days; with the downsampled ones {all_days:.2f} days")
    assert 15 <= raw_days < 29.5 and all_days > 29.9


def _budget(availability: float) -> float:
    return 1 - (1 - availability) / 0.001


def test_what_each_reading_of_the_30_day_mean_covers(world):
    """Three readings of the SLI's 30-day mean through Query, against what was backfilled:
    raw only (Query's instant default before our flag) covers the days raw blocks hold; a plain
    avg_over_time with our flags covers 30 days but weighs each stretch by its sample count
    (raw minutes drown downsampled hours); the budget rule's hourly means are the window's mean."""
    plain = f"avg_over_time({SLI}[30d])"
    raw_only = float(_query(world.query, plain, max_source_resolution="0s")[0]["value"][1])
    plain_ours = float(_query(world.query, plain)[0]["value"][1])
    hourly_ours = float(_query(world.query, HOURLY_MEANS)[0]["value"][1])
    raw_expected = _expected_average(world, _coverage_start_ms(world, {0}))
    whole = _expected_average(world, _coverage_start_ms(world, {0, 300_000, 3_600_000}))
    print(f"thanos: the SLI's 30d mean (budget): backfilled {whole:.5f} ({_budget(whole):.2f}); raw only {raw_only:.5f} "
          f"({_budget(raw_only):.2f}); plain avg_over_time with our flags {plain_ours:.5f} ({_budget(plain_ours):.2f}); "
          f"hourly means with our flags {hourly_ours:.5f} ({_budget(hourly_ours):.2f})")
    assert raw_only == pytest.approx(raw_expected, abs=2e-5) and raw_expected > whole + 5e-4
    assert abs(plain_ours - whole) > 5e-4, "a plain avg_over_time now weighs resolutions alike: budgetErrorRatio may go"
    assert hourly_ours == pytest.approx(whole, abs=2e-5)


def test_the_rulers_30_day_budget_sees_the_bad_fortnight(world):
    def recorded():
        result = _query(world.query, f'dataops:slo:error_budget_remaining{{slo="{SLO}"}}')
        return result and float(result[0]["value"][1])

    budget = wait_until(recorded, 60, "the Ruler's budget series in Query")
    print(f"thanos: the Ruler recorded error_budget_remaining{{slo={SLO!r}}} = {budget:.2f}")
    whole_window = _budget(_expected_average(world, _coverage_start_ms(world, {0, 300_000, 3_600_000})))
    assert budget == pytest.approx(whole_window, abs=0.2), "the Ruler's 30-day budget is not the whole window's"
    rules = json.loads(http_get(f"{world.ruler}/api/v1/rules"))["data"]["groups"]
    health = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert set(health.values()) == {"ok"}, health


# Labels Prometheus and the operator add to every scraped series (not the program's own).
_TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "service", "endpoint"}


def _exposed(text: str) -> dict[str, tuple[str, set[str]]]:
    """{sample name: (family type, label names)} of one /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            _, labels = out.setdefault(sample.name, (family.type, set()))
            labels.update(sample.labels)
    return out


def test_every_catalogued_thanos_series_is_exposed_as_catalogued(world):
    """docs/metrics/thanos.yaml against what the real parts expose: each entry's name, type and
    label names (the target labels aside), unless its ``appears_when`` names the condition."""
    catalog = yaml.safe_load((ROOT / "docs" / "metrics" / "thanos.yaml").read_text())
    exposed: dict[str, tuple[str, set[str]]] = {}
    for url in world.metrics_urls.values():
        for name, (kind, labels) in _exposed(http_get(url).decode()).items():
            exposed.setdefault(name, (kind, set()))[1].update(labels)
    problems = []
    for entry in catalog:
        name, own_labels = entry["name"], set(entry["labels"]) - _TARGET_LABELS
        if name not in exposed:
            if not entry.get("appears_when"):
                problems.append(f"{name}: not exposed by any Thanos part")
            continue
        kind, labels = exposed[name]
        if kind != entry["type"]:
            problems.append(f"{name}: exposed as {kind}, catalogued as {entry['type']}")
        if labels - _TARGET_LABELS != own_labels:
            problems.append(f"{name}: labels {sorted(labels - _TARGET_LABELS)}, catalogued {sorted(own_labels)}")
    assert not problems, "\n".join(problems)
