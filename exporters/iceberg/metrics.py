"""Exposition: what ``/metrics`` serves.

The table families are rendered to bytes once per completed collection cycle, in
prometheus_client's text format (a test checks the bytes against its renderer). Each
table's sample lines are kept and reused while its values do not change, so a cycle in
which few tables changed renders only those (10,000 tables: milliseconds). A scrape
only concatenates those bytes with two small dynamic parts: the per-table age lines
(``now - confirmed_at``, see :class:`AgeLines`) and the self-metrics registry. A scrape
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
from prometheus_client.utils import floatToGoString

from exporters.iceberg.collector import ERROR_KINDS, IcebergCollector
from exporters.iceberg.table_stats import TableStats

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
    "Seconds since this table's values were last collected successfully or confirmed unchanged "
    "(same metadata location or REST ETag), computed at scrape time.",
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


#: (name, help) of the per-table families, in the order build_table_families yields them.
TABLE_FAMILIES = tuple((name, help_) for name, help_, _ in TABLE_GAUGES) + (LAST_UPDATE, TABLE_OK)


class TableRenderer:
    """Renders what ``render(build_table_families(stats, attempt_ok))`` renders, incrementally.

    Every table's sample lines are cached with the TableStats object and the
    ``collection_ok`` flag they show: the collector keeps the same (frozen) TableStats
    object while a table is unchanged, so a table is re-rendered only when it was
    reloaded or its flag changed. When no table changed, the previous body is returned.
    """

    def __init__(self) -> None:
        # HELP/TYPE lines of each family, from prometheus_client itself (an empty family).
        self._headers = [render([GaugeMetricFamily(name, help_, labels=LABELS)]).decode() for name, help_ in TABLE_FAMILIES]
        # key -> (the TableStats rendered, its ok flag, its lines)
        self._cache: dict[tuple[str, str], tuple[TableStats, bool, tuple[str, ...]]] = {}
        self._body = b""
        self.lines_rendered = 0  # tables whose lines were (re)built, for tests and benchmarks

    @staticmethod
    def _values(s: TableStats, ok: bool) -> tuple:
        return (*(getattr(s, attr) for _, _, attr in TABLE_GAUGES), s.last_update_seconds, ok)

    @staticmethod
    def _lines(s: TableStats, values: tuple) -> tuple[str, ...]:
        labels = f'{{database="{_escape(s.database)}",table="{_escape(s.table)}"}} '
        out = []
        for (name, _), value in zip(TABLE_FAMILIES, values):
            if value is None:  # no last-update series for a table without a snapshot
                out.append("")
            else:
                out.append(f"{name}{labels}{floatToGoString(float(value))}\n")
        return tuple(out)

    def render(self, stats: Iterable[TableStats], attempt_ok: dict[tuple[str, str], bool]) -> bytes:
        cache: dict[tuple[str, str], tuple[TableStats, bool, tuple[str, ...]]] = {}
        old = self._cache
        changed = False
        for s in stats:
            key = (s.database, s.table)
            ok = attempt_ok.get(key, True)
            hit = old.get(key)
            if hit is None or hit[0] is not s or hit[1] != ok:
                hit = (s, ok, self._lines(s, self._values(s, ok)))
                self.lines_rendered += 1
                changed = True
            cache[key] = hit
        if not changed and list(cache) == list(old) and self._body:
            return self._body  # same tables, same objects, same flags, same order
        per_family: list[list[str]] = [[] for _ in TABLE_FAMILIES]
        for _, _, lines in cache.values():
            for bucket, line in zip(per_family, lines):
                bucket.append(line)
        self._cache = cache
        self._body = "".join(header + "".join(lines) for header, lines in zip(self._headers, per_family)).encode()
        return self._body


class AgeLines:
    """The ``iceberg_table_metrics_age_seconds`` family of one publish, rendered per scrape.

    Tables confirmed in the same cycle share their confirmation time, so in a steady
    state there are few distinct times: the lines of each such group are one
    ``str.join`` of pre-built label prefixes with the group's value as separator. With
    many distinct times (e.g. after the first cycle, every table loaded at its own
    moment) one ``%`` format over a pre-built template is used instead. Both give the
    same samples; line order within the family may differ.
    """

    #: Up to this many distinct confirmation times, the grouped rendering is used.
    GROUPED_MAX = 64

    def __init__(self, prefixes: list[str], template: str, confirmed: list[float]):
        name, help_ = AGE
        self.count = len(prefixes)
        self._header = f"# HELP {name} {help_}\n# TYPE {name} gauge\n" if prefixes else ""
        self._template = template
        self._confirmed = confirmed
        groups: dict[float, list[str]] = {}
        for prefix, at in zip(prefixes, confirmed):
            groups.setdefault(at, []).append(prefix)
        self._groups = list(groups.items()) if len(groups) <= self.GROUPED_MAX else None

    @property
    def confirmed(self) -> list[float]:
        """The confirmation times, in the order of the prefixes (to rebuild it elsewhere)."""
        return self._confirmed

    def render(self, now: float) -> bytes:
        if not self.count:
            return b""
        if self._groups is not None:
            parts = [self._header]
            for at, prefixes in self._groups:
                sep = f" {now - at if now > at else 0.0:.3f}\n"
                parts.append(sep.join(prefixes))
                parts.append(sep)
            return "".join(parts).encode()
        values = tuple([now - at if now > at else 0.0 for at in self._confirmed])
        return (self._header + self._template % values).encode()


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
        yield CounterMetricFamily(
            "iceberg_exporter_metadata_reads",
            "Table metadata documents read: a metadata JSON file (sql, hive) or a full REST loadTable "
            "response. Tables whose metadata location or REST ETag did not change read none.",
            value=c.metadata_reads,
        )
        yield GaugeMetricFamily(
            "iceberg_exporter_tables_unchanged",
            "Tables of the last successful cycle whose metadata had not changed (same metadata "
            "location, or REST 304 Not Modified): not loaded, cached values confirmed.",
            value=c.tables_unchanged,
        )
        yield GaugeMetricFamily(
            "iceberg_exporter_tables_listed",
            "Tables the catalog listed in the last successful cycle, before sharding (all shards together).",
            value=c.tables_listed,
        )
        shard = GaugeMetricFamily(
            "iceberg_exporter_shard_info",
            "Always 1; this replica exports the tables of shard `shard` (0-based) out of `shards` (--shard).",
            labels=["shard", "shards"],
        )
        shard.add_metric([str(c.config.shard_index), str(c.config.shard_count)], 1)
        yield shard


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
        self._renderer = TableRenderer()
        # (rendered table families, their age lines), swapped atomically.
        self._published: tuple[bytes, AgeLines] = (b"", AgeLines([], "", []))
        # (keys, label prefixes, %-template) of the last publish: rebuilt when the table set changes.
        self._age_parts: tuple[list[tuple[str, str]], list[str], str] = ([], [], "")

    @property
    def table_count(self) -> int:
        return self._published[1].count

    def publish(self) -> None:
        """Render the collector's current state (call after each cycle)."""
        c = self.collector
        with c._lock:
            keys = sorted(c.stats)
            stats = [c.stats[k] for k in keys]
            attempt_ok = dict(c.last_attempt_ok)
            confirmed = c.confirmed_at
            confirmed_at = [confirmed.get(k, s.collected_at) for k, s in zip(keys, stats)]
        with self._lock:  # one publisher at a time (the renderer's cache)
            body = self._renderer.render(stats, attempt_ok)
            if self._age_parts[0] != keys:  # the table set changed: new prefixes and template
                name = AGE[0]
                prefixes = [f'{name}{{database="{_escape(db)}",table="{_escape(tbl)}"}}' for db, tbl in keys]
                # Label values may contain "%": escaped for the "%" format.
                template = "".join(p.replace("%", "%%") + " %.3f\n" for p in prefixes)
                self._age_parts = (keys, prefixes, template)
            _, prefixes, template = self._age_parts
            self._published = (body, AgeLines(prefixes, template, confirmed_at))

    def published(self) -> tuple[bytes, AgeLines, list[str], str]:
        """(table families, age lines, their label prefixes, their %-template) of the last
        publish, read together (for the serving process, see serving.py)."""
        with self._lock:
            table_body, ages = self._published
            _, prefixes, template = self._age_parts
            return table_body, ages, prefixes, template

    def self_metrics(self) -> bytes:
        """The exporter's own series (up, errors, cycles, ...), rendered now."""
        return generate_latest(self.registry)

    def observe_cycle(self, seconds: float) -> None:
        self.cycle_histogram.observe(seconds)

    def body(self) -> bytes:
        table_body, ages = self._published
        return b"".join([table_body, ages.render(time.time()), self.self_metrics()])
