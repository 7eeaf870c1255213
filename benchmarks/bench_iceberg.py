"""Benchmark the Iceberg exporter: against the guide's loop, and at lake scale.

    .venv/bin/python benchmarks/bench_iceberg.py                 # full run (make bench-iceberg)
    .venv/bin/python benchmarks/bench_iceberg.py --size quick    # a quick run, small sizes

Part 1, the guide's method (``--tables`` x ``--snapshots``, full: 50 x 100): builds the
tables as part 2 does (metadata written directly in the layout of pyiceberg's fast
appends: one manifest per snapshot, each snapshot's manifest list listing every manifest
so far), or with ``--pyiceberg-writer`` through pyiceberg appends (one small parquet file
per append, in ``--procs`` processes, each writing its own SQLite file; the rows are
merged into one catalog afterwards; several minutes on 2 cores), then times
this exporter's steady-state collection cycle (after one warm cycle; nothing changed)
against the guide's loop (section 1.4, reimplemented below: load_catalog, then per table
``plan_files()`` twice and ``history()``) on the same catalog, and prints both, their
ratio and the metadata files read per steady cycle.

Part 2, lake scale (``--lake-tables``, full: 10,000 tables with ``--lake-snapshots`` 3
snapshots each, over ``--lake-namespaces`` namespaces, in a SQLite SQL catalog). pyiceberg's
writer needs about 0.1 s per table and commit, too slow for 10,000 tables on 2 cores, so
the tables are written directly: per table and snapshot one manifest and one manifest list
(pyiceberg's own ``write_manifest`` / ``write_manifest_list``), one metadata JSON (validated
by pyiceberg's ``TableMetadataUtil`` and written by its serializer) and one row in the
catalog's ``iceberg_tables``. Data files are described in the manifests but not written:
the exporter never reads data files. The exporter then runs as its own process
(``python -m exporters.iceberg --interval 1ms``: cycles back to back), and the benchmark
prints the first cycle, the steady-state cycle (and its render), metadata files read per
steady cycle, /metrics latency with 1 and ``--clients`` concurrent keep-alive clients
while the cycles run, the body size, and the exporter's peak RSS (VmHWM of the exporter process plus its
serving process: an upper bound, see proc_tree.py).

Everything printed is measured in this run; nothing is hard-coded. Targets are printed
next to the figures; nothing is asserted beyond the runs completing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # proc_tree

import pyarrow as pa  # noqa: E402

from exporters.iceberg.collector import IcebergCollector  # noqa: E402
from exporters.iceberg.config import Config  # noqa: E402
import scrape_clients  # noqa: E402  (benchmarks/, the script's own directory)
from scrape_clients import percentile  # noqa: E402
from proc_tree import tree_total  # noqa: E402  (tests/)

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



def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- part 2: a lake written directly ------------------------------------------------------


def _write_lake_part(args: tuple[str, list[tuple[str, str]], int, int]) -> tuple[list[tuple[str, str, str]], float]:
    """Write the metadata of ``tables`` under ``warehouse_dir``; return their catalog rows."""
    warehouse_dir, tables, snapshots, seed = args
    from pyiceberg.io.pyarrow import PyArrowFileIO
    from pyiceberg.manifest import (
        DataFile,
        DataFileContent,
        FileFormat,
        ManifestEntry,
        ManifestEntryStatus,
        write_manifest,
        write_manifest_list,
    )
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
    from pyiceberg.schema import Schema
    from pyiceberg.serializers import ToOutputFile
    from pyiceberg.table.metadata import TableMetadataUtil
    from pyiceberg.typedef import Record
    from pyiceberg.types import LongType, NestedField, StringType

    start = time.perf_counter()
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "payload", StringType(), required=False),
        schema_id=0,
    )
    schema_json = json.loads(schema.model_dump_json(by_alias=True))
    io = PyArrowFileIO()
    rnd = random.Random(seed)
    base_ms = int(time.time() * 1000) - 86_400_000
    out: list[tuple[str, str, str]] = []
    for namespace, name in tables:
        location = (Path(warehouse_dir) / namespace / name).as_uri()
        manifests: list = []
        snaps: list[dict] = []
        parent = None
        total_size = 0
        ts = base_ms
        for k in range(1, snapshots + 1):
            snapshot_id = rnd.getrandbits(62) | 1
            size = rnd.choice((700, 900, 48 * 2**20))  # small and big files: small-file counts are not all 0
            total_size += size
            data_file = DataFile.from_args(
                content=DataFileContent.DATA,
                file_path=f"{location}/data/{k:05d}-{snapshot_id}.parquet",
                file_format=FileFormat.PARQUET,
                partition=Record(),
                record_count=10,
                file_size_in_bytes=size,
                sort_order_id=None,
                spec_id=0,
                equality_ids=None,
                key_metadata=None,
            )
            writer = write_manifest(
                2, UNPARTITIONED_PARTITION_SPEC, schema, io.new_output(f"{location}/metadata/{uuid.uuid4()}-m0.avro"),
                snapshot_id, "deflate",
            )
            with writer:
                writer.add(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=snapshot_id,
                        sequence_number=None,
                        file_sequence_number=None,
                        data_file=data_file,
                    )
                )
            manifest = writer.to_manifest_file()
            manifest_list = f"{location}/metadata/snap-{snapshot_id}-1-{uuid.uuid4()}.avro"
            list_writer = write_manifest_list(2, io.new_output(manifest_list), snapshot_id, parent, k, "deflate")
            with list_writer:
                list_writer.add_manifests([*manifests, manifest])
            manifests.append(list_writer.prepare_manifest(manifest))  # with its sequence number
            ts = base_ms + rnd.randrange(1000, 60_000) + k * 60_000
            summary = {
                "operation": "append",
                "added-data-files": "1",
                "added-records": "10",
                "added-files-size": str(size),
                "total-data-files": str(k),
                "total-records": str(10 * k),
                "total-files-size": str(total_size),
                "total-delete-files": "0",
                "total-position-deletes": "0",
                "total-equality-deletes": "0",
            }
            snap = {"snapshot-id": snapshot_id, "sequence-number": k, "timestamp-ms": ts}
            if parent is not None:
                snap["parent-snapshot-id"] = parent
            snap.update({"manifest-list": manifest_list, "schema-id": 0, "summary": summary})
            snaps.append(snap)
            parent = snapshot_id
        metadata = TableMetadataUtil.parse_obj(
            {
                "format-version": 2,
                "table-uuid": str(uuid.uuid4()),
                "location": location,
                "last-sequence-number": snapshots,
                "last-updated-ms": ts,
                "last-column-id": 2,
                "current-schema-id": 0,
                "schemas": [schema_json],
                "default-spec-id": 0,
                "partition-specs": [{"spec-id": 0, "fields": []}],
                "last-partition-id": 999,
                "default-sort-order-id": 0,
                "sort-orders": [{"order-id": 0, "fields": []}],
                "properties": {},
                "current-snapshot-id": parent,
                "refs": {"main": {"snapshot-id": parent, "type": "branch"}} if parent else {},
                "snapshots": snaps,
                "snapshot-log": [{"snapshot-id": x["snapshot-id"], "timestamp-ms": x["timestamp-ms"]} for x in snaps],
                "metadata-log": [],
            }
        )
        metadata_location = f"{location}/metadata/{snapshots:05d}-{uuid.uuid4()}.metadata.json"
        ToOutputFile.table_metadata(metadata, io.new_output(metadata_location))
        out.append((namespace, name, metadata_location))
    return out, time.perf_counter() - start


def build_lake(root: Path, tables: int, snapshots: int, namespaces: int, procs: int) -> tuple[str, str, float]:
    """A SQLite SQL catalog of ``tables`` tables written directly; (uri, warehouse, seconds)."""
    from pyiceberg.catalog.sql import SqlCatalog

    start = time.perf_counter()
    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    warehouse = (root / "warehouse").as_uri()
    db = root / "catalog.db"
    uri = f"sqlite:///{db}"
    SqlCatalog("default", uri=uri, warehouse=warehouse).engine.dispose()  # creates pyiceberg's catalog tables
    names = [(f"ns{i % namespaces:03d}", f"t{i:05d}") for i in range(tables)]
    chunks = [names[i::procs] for i in range(procs)]
    jobs = [(str(root / "warehouse"), chunk, snapshots, seed) for seed, chunk in enumerate(chunks) if chunk]
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        parts = pool.map(_write_lake_part, jobs)
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) "
        "VALUES ('default', ?, 'exists', 'true')",
        [(ns,) for ns in sorted({ns for ns, _ in names})],
    )
    for rows_, _ in parts:
        con.executemany(
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, "
            "previous_metadata_location, iceberg_type) VALUES ('default', ?, ?, ?, NULL, 'TABLE')",
            rows_,
        )
    con.commit()
    con.close()
    return uri, warehouse, time.perf_counter() - start


def check_lake_table(uri: str, warehouse: str, snapshots: int) -> None:
    """One table of the lake, read by pyiceberg itself: files and totals are consistent."""
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", uri=uri, warehouse=warehouse)
    ident = catalog.list_tables(catalog.list_namespaces()[0])[0]
    table = catalog.load_table(ident)
    files = list(table.scan().plan_files())
    summary = table.current_snapshot().summary.additional_properties
    assert len(files) == snapshots == int(summary["total-data-files"]), (len(files), summary)
    assert sum(f.file.file_size_in_bytes for f in files) == int(summary["total-files-size"])
    catalog.engine.dispose()


_CYCLE_RE = re.compile(
    r"cycle ok in ([\d.]+)s \(\+([\d.]+)s render\): (\d+) tables, (\d+) unchanged, (\d+) failed, "
    r"(\d+) metadata reads in total"
)


class ExporterProcess:
    """``python -m exporters.iceberg`` as a child process; its cycle log lines, parsed."""

    def __init__(self, args: list[str]):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporters.iceberg", "--listen-address", "127.0.0.1", "--port", str(self.port), *args],
            cwd=REPO_ROOT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = time.perf_counter()
        self.cycles: list[dict] = []  # {"at", "seconds", "render", "tables", "unchanged", "failed", "reads"}
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            m = _CYCLE_RE.search(line)
            with self._cond:
                if m:
                    seconds, render, tables, unchanged, failed, reads = m.groups()
                    self.cycles.append(
                        {
                            "at": time.perf_counter(),
                            "seconds": float(seconds),
                            "render": float(render),
                            "tables": int(tables),
                            "unchanged": int(unchanged),
                            "failed": int(failed),
                            "reads": int(reads),
                        }
                    )
                elif " ERROR " in line or "Traceback" in line or "FAILED" in line:
                    self.errors.append(line.rstrip())
                self._cond.notify_all()

    def wait_cycles(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.cycles) < n:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"exporter exited with {self.proc.returncode}: {self.errors[-5:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{n} cycles not done within {timeout}s")
                self._cond.wait(min(left, 1.0))

    def peak_rss_mib(self, field: str = "VmHWM") -> float:
        """VmHWM: the peak resident set so far; VmRSS: the current one. Summed over the
        exporter process and its serving process (for VmHWM an upper bound, see proc_tree)."""
        return tree_total(self.proc.pid, field) / 1024

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


def scrape_with_clients(port: int, clients: int, per_client: int, gzip: bool) -> tuple[list[float], int, float]:
    """``clients`` keep-alive connections (as Prometheus keeps them), each GETting /metrics
    ``per_client`` times back to back, from one selector loop (scrape_clients.concurrent:
    client threads would measure this process's GIL too); latencies in ms and the body
    size and the wall time. With ``gzip`` the request says ``Accept-Encoding: gzip`` as
    Prometheus does."""
    with scrape_clients.connect(port) as warm:  # the first answer after start-up is not timed
        scrape_clients.get(warm, scrape_clients.request_bytes(gzip_ok=gzip))
    latencies, errors, wall = scrape_clients.concurrent(port, clients, clients * per_client, gzip_ok=gzip)
    if errors:
        raise RuntimeError(f"{errors} scrapes failed (non-200, wrong encoding, closed or no answer in 10 s)")
    return [x * 1000 for x in latencies], scrape_clients.concurrent.last_length, wall


def fetch_metrics(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("iceberg_exporter_") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def part_guide(args: argparse.Namespace, root: Path) -> None:
    if args.pyiceberg_writer:
        uri, warehouse, secs = build_catalog(root / "cycle", args.tables, args.snapshots, args.procs)
        how = "with pyiceberg appends (a parquet file each)"
    else:
        uri, warehouse, secs = build_lake(root / "cycle", args.tables, args.snapshots, 1, args.procs)
        how = "directly (fast-append layout: a manifest per snapshot, each manifest list lists all)"
    print(f"[1] built {args.tables} tables x {args.snapshots} snapshots {how} in {secs:.1f}s")
    cfg = Config(catalog_type="sql", catalog_uri=uri, warehouse=warehouse, workers=args.workers, table_timeout=120)
    collector = IcebergCollector(cfg)
    t0 = time.perf_counter()
    warm = collector.run_cycle()
    warm_s = time.perf_counter() - t0
    assert warm.ok and warm.tables_seen == args.tables and warm.tables_failed == 0, warm
    manifests_after_warm, metadata_after_warm = collector.manifest_reads, collector.metadata_reads
    steady = []
    for _ in range(args.steady_cycles):
        t0 = time.perf_counter()
        r = collector.run_cycle()
        steady.append(time.perf_counter() - t0)
        assert r.ok and r.tables_failed == 0
    metadata_per_cycle = (collector.metadata_reads - metadata_after_warm) / args.steady_cycles
    assert collector.manifest_reads == manifests_after_warm, "steady state must read no manifest"
    collector.close()

    t0 = time.perf_counter()
    n = guide_cycle(uri, warehouse)
    guide_s = time.perf_counter() - t0
    assert n == args.tables
    ours = statistics.median(steady)
    ratio = guide_s / ours
    print(
        f"[1] exporter first cycle: {warm_s * 1000:.1f} ms ({metadata_after_warm} metadata files and "
        f"{manifests_after_warm} manifests read)"
    )
    print(
        f"[1] exporter steady-state cycle: {ours * 1000:.2f} ms median of {len(steady)} "
        f"(min {min(steady) * 1000:.2f}, max {max(steady) * 1000:.2f} ms); metadata files read per steady "
        f"cycle: {metadata_per_cycle:g}; manifests: 0; workers={args.workers}"
    )
    print(f"[1] guide's loop (plan_files x2 + history): {guide_s * 1000:.1f} ms")
    print(f"[1] ratio guide / exporter steady state: {ratio:,.0f}x (target >= 1,000x: {mark(ratio >= 1000)})")


def part_lake(args: argparse.Namespace, root: Path) -> None:
    n = args.lake_tables
    uri, warehouse, secs = build_lake(root / "lake", n, args.lake_snapshots, args.lake_namespaces, args.procs)
    check_lake_table(uri, warehouse, args.lake_snapshots)
    print(
        f"[2] built {n} tables x {args.lake_snapshots} snapshots over {args.lake_namespaces} namespaces "
        f"(metadata written directly, {args.procs} processes) in {secs:.1f}s"
    )
    exporter = ExporterProcess(
        [
            "--catalog-uri", uri, "--warehouse", warehouse, "--interval", "1ms",
            "--workers", str(args.workers), "--table-timeout", "120s", "--log-level", "INFO",
        ]
    )
    try:
        exporter.wait_cycles(1, timeout=3600)
        first = exporter.cycles[0]
        print(
            f"[2] first cycle: {first['seconds']:.1f}s (+{first['render']:.2f}s render), {first['tables']} tables, "
            f"{first['failed']} failed, {first['reads']} metadata files read; "
            f"{first['at'] - exporter.started:.1f}s from process start to the first full exposition"
        )
        warm = len(exporter.cycles)
        exporter.wait_cycles(warm + args.steady_cycles, timeout=600)
        steady = exporter.cycles[warm : warm + args.steady_cycles]
        totals = [c["seconds"] + c["render"] for c in steady]
        reads_per_cycle = (steady[-1]["reads"] - exporter.cycles[warm - 1]["reads"]) / len(steady)
        print(
            f"[2] steady-state cycle: {statistics.median(c['seconds'] for c in steady) * 1000:.0f} ms "
            f"+ render {statistics.median(c['render'] for c in steady) * 1000:.0f} ms; cycle+render median "
            f"{statistics.median(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms over {len(steady)} cycles "
            f"(target < 2 s: {mark(max(totals) < 2)}); unchanged {min(c['unchanged'] for c in steady)}/{n}; "
            f"metadata files read per steady cycle: {reads_per_cycle:g} (target 0: {mark(reads_per_cycle == 0)})"
        )
        print(
            f"[2] exporter RSS after the steady cycles: {exporter.peak_rss_mib('VmRSS'):.0f} MiB "
            f"(peak so far {exporter.peak_rss_mib():.0f} MiB)"
        )
        per_many = max(5, args.scrapes // args.clients)
        for clients, per_client, gzip in (
            (1, args.scrapes, True),
            (args.clients, per_many, True),
            (1, args.scrapes, False),
            (args.clients, per_many, False),
        ):
            before = len(exporter.cycles)
            times, size, wall = scrape_with_clients(exporter.port, clients, per_client, gzip)
            during = len(exporter.cycles) - before
            p99 = percentile(times, 99)
            # The target is for scrapes as Prometheus makes them (gzip). Uncompressed, 20
            # clients ask for 20 x 6 MiB at once: that row shows the loopback throughput.
            target = f" (target < 20 ms: {mark(p99 < 20)})" if clients == args.clients and gzip else ""
            print(
                f"[2] scrape /metrics, {clients} concurrent client(s), {'gzip' if gzip else 'identity'}, cycles back "
                f"to back ({during} completed during the scrapes): p50 {percentile(times, 50):.1f} ms, "
                f"p99 {p99:.1f} ms{target}, max {max(times):.1f} ms over {len(times)} scrapes; "
                f"body {size / 2**20:.2f} MiB, {len(times) * size / 2**20 / wall:.0f} MiB/s delivered; "
                f"exporter peak RSS so far {exporter.peak_rss_mib():.0f} MiB"
            )
        metrics = fetch_metrics(exporter.port)
        assert metrics["iceberg_exporter_tables_seen"] == n, metrics
        assert metrics["iceberg_exporter_exposition_tables"] == n, metrics
        rss = exporter.peak_rss_mib()
        print(f"[2] exporter peak RSS (VmHWM): {rss:.0f} MiB (target < 300 MiB: {mark(rss < 300)})")
    finally:
        code = exporter.stop()
        if exporter.errors:
            print(f"[2] exporter log errors: {exporter.errors[:5]}")
    print(f"[2] exporter exit status after SIGTERM: {code}")
    if args.idle_phase:
        scrape_idle(args, uri, warehouse)


def scrape_idle(args: argparse.Namespace, uri: str, warehouse: str) -> None:
    """The same scrapes against an exporter whose collector is idle (--interval 1h), for
    comparison: what the scrapes cost without a cycle competing for the interpreter."""
    exporter = ExporterProcess(
        ["--catalog-uri", uri, "--warehouse", warehouse, "--interval", "1h", "--workers", str(args.workers),
         "--table-timeout", "120s"]
    )
    try:
        exporter.wait_cycles(1, timeout=3600)
        per_many = max(5, args.scrapes // args.clients)
        for clients, per_client, gzip in ((1, args.scrapes, True), (args.clients, per_many, True)):
            times, size, _ = scrape_with_clients(exporter.port, clients, per_client, gzip)
            print(
                f"[2] scrape /metrics, {clients} concurrent client(s), gzip, collector idle: p50 "
                f"{percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms, max {max(times):.1f} ms over "
                f"{len(times)} scrapes; exporter peak RSS so far {exporter.peak_rss_mib():.0f} MiB"
            )
    finally:
        exporter.stop()


SIZES = {
    # size: tables, snapshots, lake tables, lake snapshots, lake namespaces, scrapes, clients
    "full": (50, 100, 10_000, 3, 20, 1000, 20),
    "quick": (10, 20, 500, 2, 5, 40, 20),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="full", help="preset sizes (default full)")
    ap.add_argument("--tables", type=int, help="part 1 tables (full 50)")
    ap.add_argument("--snapshots", type=int, help="part 1 snapshots per table (full 100)")
    ap.add_argument("--lake-tables", type=int, help="part 2 tables (full 10000)")
    ap.add_argument("--lake-snapshots", type=int, help="part 2 snapshots per table (full 3)")
    ap.add_argument("--lake-namespaces", type=int, help="part 2 namespaces (full 20)")
    ap.add_argument("--scrapes", type=int, help="scrapes by the single client; the concurrent clients share as many")
    ap.add_argument("--clients", type=int, help="concurrent scrape clients (full 20)")
    ap.add_argument("--steady-cycles", type=int, default=5, help="steady-state cycles timed (median reported)")
    ap.add_argument("--workers", type=int, default=4, help="exporter --workers")
    ap.add_argument("--procs", type=int, default=2, help="processes used to create the tables")
    ap.add_argument("--part", choices=("1", "2", "all"), default="all", help="run only part 1 or part 2")
    ap.add_argument(
        "--pyiceberg-writer",
        action="store_true",
        help="part 1: build the tables with pyiceberg appends (real parquet files; ~0.1 s per commit, "
        "minutes for 50 x 100) instead of writing their metadata directly",
    )
    ap.add_argument(
        "--no-idle-phase",
        dest="idle_phase",
        action="store_false",
        help="part 2: skip the scrapes against a second exporter whose collector is idle (saves a first cycle)",
    )
    ap.add_argument("--dir", help="work dir (default: a new tmp dir, removed at the end)")
    args = ap.parse_args()
    preset = dict(
        zip(
            ("tables", "snapshots", "lake_tables", "lake_snapshots", "lake_namespaces", "scrapes", "clients"),
            SIZES[args.size],
        )
    )
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-iceberg-"))
    started = time.perf_counter()
    try:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, size {args.size}, work dir {root}")
        if args.part in ("1", "all"):
            part_guide(args, root)
        if args.part in ("2", "all"):
            part_lake(args, root)
        maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"benchmark process peak RSS: {maxrss_kib / 1024:.0f} MiB; wall time {time.perf_counter() - started:.0f}s")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
