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
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # proc_tree

from exporters.iceberg.collector import IcebergCollector  # noqa: E402
from exporters.iceberg.config import Config  # noqa: E402
from iceberg_bench.exporter_process import ExporterProcess, fetch_metrics, scrape_with_clients  # noqa: E402  (benchmarks/, the script's own directory)
from iceberg_bench.guide_loop import guide_cycle  # noqa: E402
from iceberg_bench.tables import build_catalog, build_lake, check_lake_table  # noqa: E402
from scrape_clients import percentile  # noqa: E402


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
