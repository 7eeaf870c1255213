"""Benchmark the Iceberg exporter against the guide's collection loop.

    .venv/bin/python benchmarks/bench_iceberg.py [--tables 50] [--snapshots 100] [--scrape-tables 500]

1. Builds ``--tables`` tables with ``--snapshots`` append snapshots each (one small
   parquet file per append) in a local SQLite SqlCatalog under a tmp dir, in two
   worker processes (each writes its own SQLite file; the rows are merged into one
   catalog afterwards, so the catalog holds every table).
2. Times this exporter's steady-state collection cycle (after one warm cycle, the
   snapshots unchanged) against the guide's loop (section 1.4 of the guide,
   reimplemented below: load_catalog, then per table ``plan_files()`` twice and
   ``history()``) on the same catalog, and prints both and their ratio.
3. Builds ``--scrape-tables`` tables with ``--scrape-snapshots`` snapshots each in a
   second catalog, starts the exporter's HTTP server on 127.0.0.1 and times
   ``--scrapes`` GETs of /metrics: once with the collector idle between cycles, once
   with collection cycles running back to back during the scrapes.
4. Prints the peak RSS of this process and the tracemalloc peak of one steady-state
   cycle.

Everything it prints is measured in this run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import pyarrow as pa  # noqa: E402

from exporters.iceberg.app import Exporter  # noqa: E402
from exporters.iceberg.collector import IcebergCollector  # noqa: E402
from exporters.iceberg.config import Config  # noqa: E402

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("payload", pa.string())])
NAMESPACE = "bench"


def _build_part(args: tuple[str, str, list[str], int]) -> tuple[str, float]:
    db_path, warehouse, names, snapshots = args
    from pyiceberg.catalog.sql import SqlCatalog

    start = time.perf_counter()
    catalog = SqlCatalog("default", uri=f"sqlite:///{db_path}", warehouse=warehouse)
    catalog.create_namespace_if_not_exists(NAMESPACE)
    for name in names:
        table = catalog.create_table(f"{NAMESPACE}.{name}", schema=SCHEMA)
        for i in range(snapshots):
            data = pa.table({"id": list(range(i * 10, i * 10 + 10)), "payload": [f"row-{i}"] * 10}, schema=SCHEMA)
            table.append(data)
    catalog.engine.dispose()
    return db_path, time.perf_counter() - start


def build_catalog(root: Path, tables: int, snapshots: int, procs: int = 2) -> tuple[str, str, float]:
    """Create the tables in ``procs`` processes; return (catalog uri, warehouse uri, seconds)."""
    from pyiceberg.catalog.sql import SqlCatalog

    root.mkdir(parents=True, exist_ok=True)
    warehouse = (root / "warehouse").as_uri()
    (root / "warehouse").mkdir(exist_ok=True)
    main_db = root / "catalog.db"
    SqlCatalog("default", uri=f"sqlite:///{main_db}", warehouse=warehouse).engine.dispose()
    names = [f"t{i:04d}" for i in range(tables)]
    chunks = [names[i::procs] for i in range(procs)]
    jobs = [(str(root / f"part{i}.db"), warehouse, chunk, snapshots) for i, chunk in enumerate(chunks) if chunk]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.map(_build_part, jobs)
    con = sqlite3.connect(main_db)
    for part, _ in parts:
        con.execute("ATTACH DATABASE ? AS p", (part,))
        con.execute("INSERT INTO iceberg_tables SELECT * FROM p.iceberg_tables")
        con.execute("INSERT OR IGNORE INTO iceberg_namespace_properties SELECT * FROM p.iceberg_namespace_properties")
        con.commit()
        con.execute("DETACH DATABASE p")
    con.close()
    return f"sqlite:///{main_db}", warehouse, time.perf_counter() - start


def guide_cycle(uri: str, warehouse: str) -> int:
    """The guide's collect_iceberg_metrics(), section 1.4, on a SQL catalog.

    Reproduced call for call: a fresh load_catalog per cycle; per table load_table,
    ``plan_files()`` once for the size, again for the file count, ``history()`` for the
    snapshot count and again for the last update. Two fixes are needed to run it at
    all: pyiceberg's list_tables() returns full identifiers, so the table is loaded by
    its identifier instead of the guide's f"{database}.{table_name}" string, and
    plan_files() yields FileScanTasks, so the size is ``task.file.file_size_in_bytes``.
    """
    from prometheus_client import CollectorRegistry, Gauge
    from pyiceberg.catalog import load_catalog

    registry = CollectorRegistry()
    table_size = Gauge("iceberg_table_size_bytes", "Table size in bytes", ["database", "table"], registry=registry)
    table_files = Gauge("iceberg_table_files_count", "Number of data files", ["database", "table"], registry=registry)
    table_snapshots = Gauge(
        "iceberg_table_snapshots_count", "Number of snapshots", ["database", "table"], registry=registry
    )
    table_last_update = Gauge(
        "iceberg_table_last_update_timestamp", "Last update timestamp", ["database", "table"], registry=registry
    )
    catalog = load_catalog("default", type="sql", uri=uri, warehouse=warehouse)
    n = 0
    for database in catalog.list_namespaces():
        db = ".".join(database)
        for ident in catalog.list_tables(database):
            table_name = ident[-1]
            table = catalog.load_table(ident)
            total_size = sum(file.file.file_size_in_bytes for file in table.scan().plan_files())
            table_size.labels(database=db, table=table_name).set(total_size)
            file_count = len(list(table.scan().plan_files()))
            table_files.labels(database=db, table=table_name).set(file_count)
            snapshot_count = len(table.history())
            table_snapshots.labels(database=db, table=table_name).set(snapshot_count)
            if table.history():
                last_update = table.history()[-1].timestamp_ms / 1000
                table_last_update.labels(database=db, table=table_name).set(last_update)
            n += 1
    catalog.engine.dispose()
    return n


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_scrapes(port: int, count: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            body = resp.read()
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return times, size


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=50)
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--scrape-tables", type=int, default=500)
    ap.add_argument("--scrape-snapshots", type=int, default=2)
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--steady-cycles", type=int, default=3, help="steady-state cycles timed (median reported)")
    ap.add_argument("--workers", type=int, default=4, help="exporter --workers")
    ap.add_argument("--procs", type=int, default=2, help="processes used to create the tables")
    ap.add_argument("--dir", help="work dir (default: a new tmp dir, removed at the end)")
    args = ap.parse_args()

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-iceberg-"))
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir {root}")
        # -- 1+2: steady-state cycle vs the guide's loop -------------------------------
        uri, warehouse, secs = build_catalog(root / "cycle", args.tables, args.snapshots, args.procs)
        print(f"built {args.tables} tables x {args.snapshots} snapshots in {secs:.1f}s")
        cfg = Config(catalog_type="sql", catalog_uri=uri, warehouse=warehouse, workers=args.workers, table_timeout=120)
        collector = IcebergCollector(cfg)
        t0 = time.perf_counter()
        warm = collector.run_cycle()
        warm_s = time.perf_counter() - t0
        assert warm.ok and warm.tables_seen == args.tables and warm.tables_failed == 0, warm
        reads_after_warm = collector.manifest_reads
        steady = []
        for _ in range(args.steady_cycles):
            t0 = time.perf_counter()
            r = collector.run_cycle()
            steady.append(time.perf_counter() - t0)
            assert r.ok and r.tables_failed == 0
        assert collector.manifest_reads == reads_after_warm, "steady state must read no manifest"
        tracemalloc.start()
        collector.run_cycle()
        _, steady_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        collector.close()

        t0 = time.perf_counter()
        n = guide_cycle(uri, warehouse)
        guide_s = time.perf_counter() - t0
        assert n == args.tables
        ours = statistics.median(steady)
        print(
            f"exporter warm (first) cycle: {warm_s * 1000:.1f} ms "
            f"({reads_after_warm} manifests read, small-file counts cached)"
        )
        print(
            f"exporter steady-state cycle: {ours * 1000:.1f} ms median of {len(steady)} "
            f"({', '.join(f'{s * 1000:.1f}' for s in steady)} ms; 0 manifests read; workers={args.workers})"
        )
        print(f"guide's loop (plan_files x2 + history): {guide_s * 1000:.1f} ms")
        print(f"ratio guide/exporter steady state: {guide_s / ours:.1f}x")
        print(f"tracemalloc peak during one steady-state cycle: {steady_peak / 1e6:.1f} MB")

        # -- 3: scrape latency -----------------------------------------------------------
        uri2, wh2, secs = build_catalog(root / "scrape", args.scrape_tables, args.scrape_snapshots, args.procs)
        print(f"built {args.scrape_tables} tables x {args.scrape_snapshots} snapshots in {secs:.1f}s")
        for label, interval in (("collector idle between cycles", 3600.0), ("cycles running back to back", 0.001)):
            cfg = Config(
                catalog_type="sql",
                catalog_uri=uri2,
                warehouse=wh2,
                listen_address="127.0.0.1",
                port=free_port(),
                interval=interval,
                workers=args.workers,
                table_timeout=120,
            )
            exporter = Exporter(cfg)
            exporter.start()
            try:
                assert exporter.wait_cycles(1, timeout=600)
                assert exporter.collector.tables_seen == args.scrape_tables
                time_scrapes(cfg.port, 5)  # connection warm-up
                cycles_before = exporter.cycles_attempted
                times, size = time_scrapes(cfg.port, args.scrapes)
                cycles_during = exporter.cycles_attempted - cycles_before
            finally:
                exporter.stop()
            print(
                f"scrape /metrics at {args.scrape_tables} tables ({label}; {cycles_during} cycles completed "
                f"during the scrapes): p50 {percentile(times, 50):.2f} ms, p99 {percentile(times, 99):.2f} ms, "
                f"max {max(times):.2f} ms over {len(times)} scrapes, body {size / 1024:.0f} KiB"
            )
        maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS of the benchmark process: {maxrss_kib / 1024:.0f} MiB")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
