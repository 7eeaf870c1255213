"""Real programs behind game-day targets: Thanos (built by `make tools`) on 127.0.0.1.

Where Thanos is built (``e2e/build.py``'s live group, cached outside the clone), the targets
``thanos-query``, ``thanos-sidecar-<i>`` and ``thanos-store-<i>`` of the world are real Thanos
processes instead of paths on the emulated-target server:

* each sidecar sits in front of a small Prometheus 3 replica of its own (the cluster's
  Prometheus pods; not scraped by the game day: its own Prometheus stands for them), started
  as prometheus-operator runs it for a sidecar (local compaction off, our external labels plus
  the operator's ``prometheus`` label and the replica label), with 4 h of one series backfilled
  so the sidecar has 2 h blocks to upload at once; the sidecar's flags are the operator's
  (``--prometheus.url``, ``--tsdb.path``, ``--grpc-address``, ``--http-address``,
  ``--objstore.config-file``), the bucket Thanos' filesystem objstore in the work directory;
* the Store Gateways run the flags the stack renders for ``thanos-store`` on that bucket;
* Query runs the flags the stack renders for ``thanos-query``; its endpoints are the real
  sidecars and Store Gateways (the Ruler stays emulated, so it is not one);
* a Grafana stand-in sends Query an instant and a range query every 15 s, so its HTTP and
  gRPC client series (and the stores' Series calls) exist as they do under dashboards.

Only loopback: every ``0.0.0.0`` listen address and in-cluster endpoint of the rendered flags is
replaced by a 127.0.0.1 port, a data directory or the bucket file (``tools.loopback.localised``), as
tests/test_real_thanos.py does; a rendered flag of those kinds without a local value fails.
Prometheus scrapes each real process under the labels the emulated target had (job, namespace,
pod, service, endpoint, container and instance), so no rule or dashboard query notices the swap.
Every process is started through ``Processes`` (own session) and stopped by PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from tools.gameday.common import log
from tools.gameday.rendered import Rendered
from tools.gameday.runtime import Processes, binary
from tools.gameday.world import World
from tools.loopback import free_port, http_get, localised
from tools.periodic import Periodic

# Why the rest stays emulated: printed with the list of emulated targets.
EMULATED_WHY = ("MinIO is AGPL and not built here; the Spark drivers' and executors' JVMs (spark-jvm-*) would need Spark "
                "pods running, which kwok does not run (tests/test_real_spark.py scrapes a real driver); Airflow's failed DAG "
                "runs are real (airflow-statsd-1, tools/gameday/real_airflow.py) but its steady state on airflow-statsd stays "
                "emulated: 90-minute DAG runs (the pipeline-latency SLO's input), 24 h of success rates and a running "
                "scheduler's heartbeats cannot be made real in a bounded game day; the rest (kubelet, node-exporter, "
                "Argo CD, Jenkins, Trino, blackbox, our Iceberg exporter, the Thanos Ruler and Compactor) is not run for real here")
PROMETHEUS_LABEL = ("prometheus", "monitoring/prometheus-stack-kube-prom-prometheus")


def thanos_version() -> str:
    from e2e.build import TOOLS

    return next(t.version for t in TOOLS if "thanos" in t.binaries)


def thanos_binary() -> Optional[str]:
    """The Thanos `make tools` built (tools/live_programs.py), or None."""
    from tools.live_programs import go_binary

    path = go_binary("thanos")
    return str(path) if os.access(path, os.X_OK) else None


def thanos_roles(world: World) -> dict[str, list[str]]:
    """The world's targets a real Thanos can serve, by component."""
    keys = sorted(world.targets)
    return {
        "query": [k for k in keys if k == "thanos-query"],
        "sidecar": [k for k in keys if k.startswith("thanos-sidecar-")],
        "store": [k for k in keys if k.startswith("thanos-store-")],
    }


def bind(world: World, key: str, address: str, what: str, program: Any) -> None:
    """The world's target ``key`` is served by the real ``program`` (``what`` it is) at ``address``:
    scraped there under its own labels, nothing emulated for it any more; the scenarios stop and
    start ``program`` (``world.programs``)."""
    target = world.targets[key]
    if not address.startswith("127.0.0.1:"):
        raise ValueError(f"{target.key}: not a loopback address: {address}")
    target.address = address
    target.program = what
    target.real_names = frozenset(s.name for s in target.series)
    target.series = []
    target.down = False
    world.programs[key] = program


@dataclass
class RealProgram:
    """One real process, startable again after a stop with the same flags and ports."""

    name: str
    args: list[str]
    log_path: Path
    ready_url: str
    procs: Processes
    proc: Optional[subprocess.Popen] = None
    env: Optional[dict[str, str]] = None  # None: this process's environment

    def start(self, t: float = 0.0) -> None:
        if self.proc is None:
            self.proc = self.procs.start(self.name, self.args, self.log_path, self.ready_url, timeout=120, env=self.env)

    def stop(self, t: float = 0.0) -> None:
        """SIGTERM to its process group (= its PID), SIGKILL after 15 s."""
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None


class QueryLoad(Periodic):
    """A Grafana stand-in: an instant and a range query to Query every ``every`` seconds."""

    def __init__(self, base: str, every: float = 15.0):
        super().__init__(every, "query-load", first_now=True)
        self.base = base

    def step(self) -> None:
        now = time.time()
        for path, params in (("/api/v1/query", {"query": "sum by (job) (up)"}),
                             ("/api/v1/query_range", {"query": "sum(up)", "start": now - 3600, "end": now, "step": 60})):
            try:
                http_get(f"{self.base}{path}?{urllib.parse.urlencode(params)}", timeout=10)
            except OSError:
                pass  # Query stopped by its scenario


def _replica_history(promtool: str, job: str, instance: str, now: float, work: Path, tsdb: Path) -> None:
    """4 h of ``up`` for the replica's own scrape, as 2 h blocks in its TSDB (for its sidecar to upload)."""
    om = work / f"{tsdb.name}-history.om"
    start = int(now - 4 * 3600)
    lines = [f'up{{instance="{instance}",job="{job}"}} 1 {t}' for t in range(start, int(now - 120), 30)]
    om.write_text("\n".join(lines) + "\n# EOF\n")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)],
                   check=True, capture_output=True, timeout=300)
    om.unlink()


def start_real_thanos(world: World, rendered: Rendered, work: Path, procs: Processes, servers: list,
                      thanos: Optional[str]) -> None:
    """Start real Thanos for the world's Thanos targets and bind them; or say in the world why not."""
    roles = thanos_roles(world)
    if not any(roles.values()):
        return
    if thanos is None:
        world.emulated_note = ("Thanos is not built (`make tools` builds it where Go is installed): "
                               "Thanos Query, sidecars and Store Gateways are emulated")
        return
    missing = [part for part in ("query", "store") if roles[part] and part not in rendered.thanos_args]
    if missing:
        world.emulated_note = f"the stack renders no thanos-{'/'.join(missing)}: Thanos targets are emulated"
        return
    version = thanos_version()
    root = work / "thanos"
    bucket = root / "bucket"
    bucket.mkdir(parents=True)
    objstore = root / "objstore.yml"
    objstore.write_text(yaml.safe_dump({"type": "FILESYSTEM", "config": {"directory": str(bucket)}}))
    replica_label = next((f.split("=", 1)[1] for f in rendered.thanos_args.get("query", []) if f.startswith("--query.replica-label=")),
                         "prometheus_replica")
    prometheus, promtool = binary("prometheus"), binary("promtool")
    grpc_endpoints: list[str] = []

    def program(name: str, args: list[str], http_port: int, log_name: str) -> RealProgram:
        p = RealProgram(name, args, root / f"{log_name}.log", f"http://127.0.0.1:{http_port}/-/ready", procs)
        p.start()
        return p

    for key in roles["sidecar"]:
        target = world.targets[key]
        pod = target.labels.get("pod", key)
        port, http_port, grpc_port = free_port(), free_port(), free_port()
        tsdb = root / f"{key}-prometheus"
        tsdb.mkdir()
        labels = {**rendered.external_labels, PROMETHEUS_LABEL[0]: PROMETHEUS_LABEL[1], replica_label: pod}
        config = root / f"{key}-prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "30s", "external_labels": labels},
                                          "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}))
        _replica_history(promtool, "prometheus", f"127.0.0.1:{port}", time.time(), root, tsdb)
        program(f"prometheus replica behind {key}", [
            prometheus, f"--config.file={config}", f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"], port, f"{key}-prometheus")
        sidecar = program(f"thanos sidecar {key}", [
            thanos, "sidecar", f"--prometheus.url=http://127.0.0.1:{port}", f"--tsdb.path={tsdb}",
            f"--grpc-address=127.0.0.1:{grpc_port}", f"--http-address=127.0.0.1:{http_port}", f"--objstore.config-file={objstore}",
        ], http_port, key)
        bind(world, key, f"127.0.0.1:{http_port}", f"Thanos {version} sidecar, operator's flags, in front of a Prometheus 3 replica of its own", sidecar)
        grpc_endpoints.append(f"127.0.0.1:{grpc_port}")
    for key in roles["store"]:
        http_port, grpc_port = free_port(), free_port()
        store = program(f"thanos store {key}", [thanos, *localised(
            rendered.thanos_args["store"], http_address=f"127.0.0.1:{http_port}", grpc_address=f"127.0.0.1:{grpc_port}",
            objstore_config_file=str(objstore), data_dir=str(root / f"{key}-data"))], http_port, key)
        bind(world, key, f"127.0.0.1:{http_port}", f"Thanos {version} store, rendered flags", store)
        grpc_endpoints.append(f"127.0.0.1:{grpc_port}")
    for key in roles["query"]:
        http_port, grpc_port = free_port(), free_port()
        endpoints = json.dumps({"endpoints": [{"address": a} for a in grpc_endpoints]})
        query = program(f"thanos query {key}", [thanos, *localised(
            rendered.thanos_args["query"], http_address=f"127.0.0.1:{http_port}", grpc_address=f"127.0.0.1:{grpc_port}",
            endpoint_sd_config=endpoints)], http_port, key)
        bind(world, key, f"127.0.0.1:{http_port}", f"Thanos {version} query, rendered flags", query)
        servers.append(QueryLoad(f"http://127.0.0.1:{http_port}").start())
    log(f"real Thanos {version}: " + ", ".join(f"{k} pid {p.proc.pid}" for k, p in world.programs.items() if p.proc))


def real_and_emulated(world: World) -> tuple[dict[str, list[str]], list[str]]:
    """(what each real program serves: program -> target keys, the emulated target keys)."""
    by_program: dict[str, list[str]] = {}
    for t in world.targets.values():
        if t.address:
            by_program.setdefault(t.program or "?", []).append(t.key)
    return {p: sorted(keys) for p, keys in sorted(by_program.items())}, sorted(t.key for t in world.targets.values() if not t.address)


def inventory(world: World) -> str:
    """Which targets real programs serve and which are emulated: the lines the run prints once."""
    real, emulated = real_and_emulated(world)
    count = sum(len(keys) for keys in real.values())
    lines = [f"Real programs ({count} targets): " + ("; ".join(f"{', '.join(keys)} = {name}" for name, keys in real.items()) or "none")]
    lines.append(f"Emulated ({len(emulated)} targets, catalogued names from one Python server): {', '.join(emulated)}")
    lines.append(f"  why emulated: {EMULATED_WHY}" + (f"; {world.emulated_note}" if world.emulated_note else ""))
    return "\n".join(lines)
