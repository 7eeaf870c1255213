"""Benchmark the Iceberg exporter's HTTP server under scrape load, with collection cycles running.

    .venv/bin/python benchmarks/bench_iceberg_server.py [--tables 500] [--scrapes 2000] [--clients 20]
                                                        [--idle 1000] [--full-refresh-interval 0]

1. Builds ``--tables`` tables (one append each) in a SQLite SqlCatalog under a tmp dir,
   with the test helpers (tests/iceberg_fixtures.py).
2. Starts the real exporter, ``python -m exporters.iceberg``, as a child process with
   ``--interval 1ms`` (cycles back to back) and ``--full-refresh-interval 0`` (every
   cycle loads every table: the busiest collector, not the change-detection shortcut),
   and waits until all tables are exported.
3. From this process (single-threaded clients on raw sockets, so the client's own
   overhead stays small), with cycles running throughout:
   - keep-alive: one client, ``--keepalive-scrapes`` sequential GETs of /metrics on one
     connection, with ``Accept-Encoding: gzip`` (as Prometheus) and without;
   - concurrent: ``--clients`` keep-alive clients, each sending its next GET as soon as
     the previous answer is read, ``--scrapes`` GETs in total (gzip);
   - idle connections: ``--idle`` connections opened (each answered one /healthz and
     then stays idle), then ``--idle-scrapes`` sequential scrapes on a new connection;
     the exporter's thread count with and without them; whether all are still served.
   Latency is from the first byte of the request sent to the last byte of the response
   read. An error is a non-200 answer, a connection error or no answer within 10 s.
4. Prints the figures, the collection cycles completed during each phase and the
   exporter's peak RSS.

Everything it prints is measured in this run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from iceberg_fixtures import LocalCatalog, free_port, rows  # noqa: E402
from proc_tree import describe_rss, tree_total  # noqa: E402
from scrape_clients import concurrent, connect, get, percentile, request_bytes, sample, scrape_text, sequential  # noqa: E402

def fmt_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.2f} ms, p99 {percentile(values, 99) * 1000:.2f} ms, "
        f"max {max(values) * 1000:.2f} ms"
    )


def exporter_command(switch_interval: float | None) -> list[str]:
    if switch_interval is None:
        return [sys.executable, "-m", "exporters.iceberg"]
    code = (
        f"import sys; sys.setswitchinterval({switch_interval!r}); "
        "from exporters.iceberg.app import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--scrapes", type=int, default=2000, help="concurrent phase: scrapes in total")
    parser.add_argument("--clients", type=int, default=20, help="concurrent phase: keep-alive clients")
    parser.add_argument("--keepalive-scrapes", type=int, default=500)
    parser.add_argument("--idle", type=int, default=1000, help="idle connections held open")
    parser.add_argument("--idle-scrapes", type=int, default=200)
    parser.add_argument("--full-refresh-interval", default="0", help="exporter flag (0: every cycle loads every table)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--switch-interval", type=float, default=None,
        help="experiment: sys.setswitchinterval() in the exporter process (default: Python's 5 ms)",
    )
    parser.add_argument("--phases", default="keepalive,concurrent,idle", help="comma-separated subset to run")
    parser.add_argument(
        "--interval", default="1ms", help="exporter flag (1ms: cycles back to back; 1h: the collector idle)"
    )
    parser.add_argument(
        "--catalog-dir", type=Path, default=None,
        help="build the tables here and keep them; reuse them if this directory already holds --tables tables",
    )
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    keep = args.catalog_dir is not None
    root = args.catalog_dir.resolve() if keep else Path(tempfile.mkdtemp(prefix="bench-iceberg-server-"))
    proc = None
    try:
        start = time.perf_counter()
        local = LocalCatalog(root / "cat")
        existing = len(local.catalog.list_tables("bench")) if ("bench",) in local.catalog.list_namespaces() else 0
        if existing != args.tables:
            if existing:
                raise SystemExit(f"{root} holds {existing} tables, not {args.tables}: use another --catalog-dir")
            for i in range(args.tables):
                local.create(f"bench.t{i:04d}").append(rows(i, 5))
            print(f"built {args.tables} tables in {time.perf_counter() - start:.1f}s")
        else:
            print(f"reusing the {existing} tables in {root}")
        local.catalog.engine.dispose()

        port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        proc = subprocess.Popen(
            [
                *exporter_command(args.switch_interval),
                "--catalog-uri", local.uri, "--warehouse", local.warehouse,
                "--listen-address", "127.0.0.1", "--port", str(port),
                "--interval", args.interval, "--full-refresh-interval", args.full_refresh_interval,
                "--workers", str(args.workers), "--log-level", "WARNING",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"exporter exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
            try:
                text = scrape_text(port)
                if sample(text, "iceberg_exporter_exposition_tables") == args.tables:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("exporter did not export every table within 300s")
            time.sleep(0.2)
        body_plain = len(text.encode())
        with connect(port) as s:
            _, resp = get(s, request_bytes(gzip_ok=True))
        print(
            f"exporter pid {proc.pid}: {args.tables} tables exported; /metrics body {body_plain / 1024:.0f} KiB, "
            f"{resp.length / 1024:.0f} KiB gzip; threads {tree_total(proc.pid, 'Threads')}"
        )

        load_start = os.getloadavg()

        def cycles() -> float:
            return sample(scrape_text(port), "iceberg_exporter_cycles_total") or 0.0

        phases = set(args.phases.split(","))

        # Keep-alive, one client.
        if 'keepalive' in phases:
            c0 = cycles()
            t0 = time.perf_counter()
            ka_gzip, e1 = sequential(port, args.keepalive_scrapes, gzip_ok=True)
            ka_plain, e2 = sequential(port, args.keepalive_scrapes, gzip_ok=False)
            c1, t1 = cycles(), time.perf_counter()
            print(
                f"keep-alive, 1 client, {args.keepalive_scrapes} scrapes each ({c1 - c0:.0f} cycles ran in "
                f"{t1 - t0:.1f}s):\n  gzip:     {fmt_ms(ka_gzip)}, errors {e1}\n  identity: {fmt_ms(ka_plain)}, errors {e2}"
            )

        # Concurrent clients.
        if 'concurrent' in phases:
            c0 = cycles()
            lat, errors, wall = concurrent(port, args.clients, args.scrapes)
            c1 = cycles()
            print(
                f"{args.scrapes} scrapes from {args.clients} concurrent keep-alive clients (gzip; {c1 - c0:.0f} cycles "
                f"ran in {wall:.1f}s): {fmt_ms(lat)}, errors {errors}, {len(lat) / wall:.0f} scrapes/s"
            )

        # Idle connections.
        if 'idle' in phases:
            threads_before = tree_total(proc.pid, "Threads")
            idle: list[socket.socket] = []
            idle_errors = 0
            health = request_bytes("/healthz", gzip_ok=False)
            for _ in range(args.idle):
                try:
                    s = connect(port)
                    _, resp = get(s, health)
                    if resp.code != 200:
                        idle_errors += 1
                    idle.append(s)
                except OSError:
                    idle_errors += 1
            threads_idle = tree_total(proc.pid, "Threads")
            c0 = cycles()
            lat_idle, e3 = sequential(port, args.idle_scrapes, gzip_ok=True)
            c1 = cycles()
            still = 0
            for s in idle:
                try:
                    _, resp = get(s, health)
                    still += resp.code == 200
                except OSError:
                    pass
                s.close()
            print(
                f"{len(idle)} idle connections open ({idle_errors} errors opening them): exporter threads "
                f"{threads_before} -> {threads_idle}; {args.idle_scrapes} scrapes on another connection "
                f"({c1 - c0:.0f} cycles ran): {fmt_ms(lat_idle)}, errors {e3}; {still}/{len(idle)} idle "
                f"connections still served afterwards"
            )
        print(f"exporter peak RSS (VmHWM, summed) {describe_rss(proc.pid)}")
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load_start[0]:.2f} at the start of the "
            f"measurements, {os.getloadavg()[0]:.2f} at the end (latency includes waiting for a CPU)"
        )
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
