"""Exposition: what ``/metrics`` serves.

The table families are built once per completed collection cycle and rendered to
bytes right then (prometheus_client's own text renderer, through a throwaway
registry holding a collector that yields the pre-built families); a scrape only
concatenates those bytes with two small dynamic parts: the per-table age lines
(``now - collected_at``, formatted from pre-escaped label strings) and the
self-metrics registry. So a scrape costs about the same for 10 or 1,000 tables and
never touches the catalog.

The published state is one tuple swapped by a single assignment, so a scrape sees
either the previous or the new cycle, never a mix.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.iceberg.collector import ERROR_KINDS, IcebergCollector, TableStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LABELS = ["database", "table"]

#: (name, help, attribute of TableStats) of the per-table gauges.
TABLE_GAUGES = (
    (
        "iceberg_table_size_bytes",
        "Total size of the live data and delete files of the table's current snapshot "
        "(snapshot summary total-files-size), in bytes.",
        "size_bytes",
    ),
    (
        "iceberg_table_files_count",
        "Number of live data files in the table's current snapshot (total-data-files).",
        "data_files",
    ),
    (
        "iceberg_table_records_count",
        "Number of records in the live data files of the current snapshot (total-records; "
        "rows removed by delete files are not subtracted).",
        "records",
    ),
    (
        "iceberg_table_delete_files_count",
        "Number of live position and equality delete files in the current snapshot (total-delete-files).",
        "delete_files",
    ),
    (
        "iceberg_table_small_files_count",
        "Number of live data files smaller than the small-file threshold (--small-file-bytes).",
        "small_files",
    ),
    (
        "iceberg_table_snapshots_count",
        "Number of snapshots in the table metadata (expired snapshots excluded).",
        "snapshots_count",
    ),
)

LAST_UPDATE = (
    "iceberg_table_last_update_timestamp",
    "Commit time of the table's current snapshot, Unix seconds. Absent for tables without a snapshot.",
)
TABLE_OK = (
    "iceberg_table_collection_ok",
    "1 if the last attempt to collect this table succeeded, 0 if it failed or timed out "
    "(its other series then keep their last good values).",
)
AGE = (
    "iceberg_table_metrics_age_seconds",
    "Seconds since this table's values were last collected successfully (computed at scrape time).",
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Families(Collector):
    def __init__(self, families: list[Metric]):
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def build_table_families(stats: Iterable[TableStats], attempt_ok: dict[tuple[str, str], bool]) -> list[Metric]:
    gauges = [GaugeMetricFamily(name, help_, labels=LABELS) for name, help_, _ in TABLE_GAUGES]
    last_update = GaugeMetricFamily(*LAST_UPDATE, labels=LABELS)
    ok_family = GaugeMetricFamily(*TABLE_OK, labels=LABELS)
    for s in stats:
        labels = [s.database, s.table]
        for family, (_, _, attr) in zip(gauges, TABLE_GAUGES):
            family.add_metric(labels, float(getattr(s, attr)))
        if s.last_update_seconds is not None:
            last_update.add_metric(labels, s.last_update_seconds)
        ok_family.add_metric(labels, 1.0 if attempt_ok.get((s.database, s.table), True) else 0.0)
    return [*gauges, last_update, ok_family]


def render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


class SelfMetrics(Collector):
    """The exporter's own health, read from the collector at scrape time."""

    def __init__(self, collector: IcebergCollector, exposition: "Exposition"):
        self._c = collector
        self._e = exposition

    def collect(self) -> Iterable[Metric]:
        c = self._c
        yield GaugeMetricFamily(
            "iceberg_exporter_up",
            "1 if the last attempt to list the catalog succeeded, 0 if the catalog is unreachable.",
            value=c.up,
        )
        errors = CounterMetricFamily(
            "iceberg_exporter_errors",
            "Errors by kind: catalog, not_found, io, invalid_metadata, timeout, other.",
            labels=["kind"],
        )
        snapshot = dict(c.errors)
        for kind in sorted(set(ERROR_KINDS) | set(snapshot)):
            errors.add_metric([kind], snapshot.get(kind, 0))
        yield errors
        yield GaugeMetricFamily(
            "iceberg_exporter_tables_seen",
            "Tables listed by the catalog in the last successful cycle.",
            value=c.tables_seen,
        )
        yield GaugeMetricFamily(
            "iceberg_exporter_tables_failed",
            "Tables that failed or timed out in the last successful cycle.",
            value=c.tables_failed,
        )
        if c.last_success_time is not None:
            yield GaugeMetricFamily(
                "iceberg_exporter_last_success_timestamp_seconds",
                "Unix time at which the last successful collection cycle (catalog listed) completed.",
                value=c.last_success_time,
            )
        if c.last_cycle is not None:
            yield GaugeMetricFamily(
                "iceberg_exporter_last_cycle_duration_seconds",
                "Duration of the last collection cycle, successful or not.",
                value=c.last_cycle.duration,
            )
        yield CounterMetricFamily(
            "iceberg_exporter_cycles",
            "Collection cycles completed with the catalog reachable.",
            value=c.cycles,
        )
        yield CounterMetricFamily(
            "iceberg_exporter_manifest_reads",
            "Manifest files read to count small files (cache misses; unchanged snapshots read none).",
            value=c.manifest_reads,
        )
        yield GaugeMetricFamily(
            "iceberg_exporter_exposition_tables",
            "Tables with series in the current exposition.",
            value=self._e.table_count,
        )


class Exposition:
    """Holds the rendered table families and renders a full scrape body."""

    def __init__(self, collector: IcebergCollector):
        self.collector = collector
        self.registry = CollectorRegistry(auto_describe=False)
        self.cycle_histogram = Histogram(
            "iceberg_exporter_cycle_duration_seconds",
            "Duration of collection cycles.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self.registry.register(SelfMetrics(collector, self))
        self._lock = threading.Lock()
        # (rendered table families, [(escaped label string, collected_at)]), swapped atomically.
        self._published: tuple[bytes, list[tuple[str, float]]] = (b"", [])

    @property
    def table_count(self) -> int:
        return len(self._published[1])

    def publish(self) -> None:
        """Render the collector's current state (call after each cycle)."""
        c = self.collector
        with c._lock:
            stats = sorted(c.stats.values(), key=lambda s: (s.database, s.table))
            attempt_ok = dict(c.last_attempt_ok)
        body = render(build_table_families(stats, attempt_ok))
        ages = [(f'database="{_escape(s.database)}",table="{_escape(s.table)}"', s.collected_at) for s in stats]
        self._published = (body, ages)

    def observe_cycle(self, seconds: float) -> None:
        self.cycle_histogram.observe(seconds)

    def body(self) -> bytes:
        table_body, ages = self._published
        now = time.time()
        parts = [table_body]
        if ages:
            name, help_ = AGE
            lines = [f"# HELP {name} {help_}\n# TYPE {name} gauge\n"]
            lines.extend(f"{name}{{{labels}}} {max(0.0, now - at):.3f}\n" for labels, at in ages)
            parts.append("".join(lines).encode())
        parts.append(generate_latest(self.registry))
        return b"".join(parts)
