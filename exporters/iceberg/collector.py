"""Collection of Iceberg table metrics.

Change detection: each cycle lists every table with its current metadata location as
cheaply as the catalog allows (SQL: one query; Hive: batched table objects; REST: the
ETag of a conditional load; see :mod:`exporters.iceberg.catalogs`). A table whose
metadata did not change since its last successful load is not loaded: its cached
values (the same TableStats object) are confirmed: ``confirmed_at`` is set to the
cycle's time, so the age metric restarts and ``collection_ok`` is 1. ``--full-refresh-interval``
reloads every table at least that often anyway. ``--shard I/N`` keeps only this
replica's share of the listed tables.

Per changed table: read its metadata (one metadata file, or one REST load)
and take the totals from the current snapshot's summary (``total-files-size``,
``total-data-files``, ``total-records``, ``total-delete-files``): O(1) per table, no
manifest is read. Small-file counts need per-file sizes, so they are computed from
the current snapshot's manifests only when the table's current snapshot id changed
since the last cycle; the result is cached by (table, snapshot id), and each
manifest's contribution is cached by manifest path (manifests are immutable), so a
new append snapshot reads its manifest list and only its new manifests. When a
summary lacks a total (old or foreign writers), that total comes from the same
manifest pass.

Nothing here raises out of a cycle: catalog failures set ``up`` to 0 and are retried
with backoff by the caller; a table that fails or runs over its time limit is counted
under an error kind and keeps its last good values, whose age is exported.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

from exporters.iceberg import catalogs
from exporters.iceberg.catalog_access import CatalogProvider, catalog_factory, classify_error
from exporters.iceberg.config import Config
from exporters.iceberg.runner import CallTimeout, Cancelled, DeadlineRunner
from exporters.iceberg.table_stats import FileStats, TableStats, manifest_file_stats, snapshot_table_stats

log = logging.getLogger(__name__)

#: Error kinds of ``iceberg_exporter_errors_total{kind}``.
ERROR_KINDS = (
    "catalog",  # catalog unreachable or failing while listing namespaces/tables
    "not_found",  # table or namespace vanished between listing and loading
    "io",  # a metadata, manifest list or manifest file could not be read
    "invalid_metadata",  # a file was read but could not be parsed/validated
    "timeout",  # over --table-timeout
    "other",
)

@dataclass
class _SnapshotEntry:
    snapshot_id: int
    stats: FileStats
    manifest_paths: tuple[str, ...]


@dataclass
class CycleResult:
    ok: bool  # the catalog could be listed
    duration: float
    tables_seen: int = 0
    tables_failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class IcebergCollector:
    """Collects table statistics; keeps the last good values per table."""

    def __init__(
        self,
        config: Config,
        catalog: Callable[[], Any] | None = None,
        runner: DeadlineRunner | None = None,
    ):
        self.config = config
        self.catalogs = CatalogProvider(catalog or catalog_factory(config))
        self.runner = runner or DeadlineRunner(config.workers)
        self._lock = threading.Lock()
        self.stats: dict[tuple[str, str], TableStats] = {}
        self.last_attempt_ok: dict[tuple[str, str], bool] = {}
        self._snapshots: dict[tuple[str, str], _SnapshotEntry] = {}
        # manifest path -> (its live-file counts, number of the cycle that last used it)
        self._manifests: dict[str, tuple[FileStats, int]] = {}
        self.errors: dict[str, int] = {k: 0 for k in ERROR_KINDS}
        self.manifest_reads = 0  # manifest files read (not manifest lists)
        self.manifest_list_reads = 0
        self.up = 0
        self.cycles = 0
        self.last_cycle: CycleResult | None = None
        self.last_success_time: float | None = None
        self.tables_seen = 0  # tables this shard owns, in the last successful cycle
        self.tables_failed = 0
        # Change detection (see exporters/iceberg/catalogs.py).
        self.metadata_reads = 0  # metadata documents read: a metadata file, or a full REST load
        self.tables_unchanged = 0  # last cycle: tables whose metadata was unchanged (not loaded)
        self.tables_listed = 0  # last cycle: tables the catalog listed, all shards together
        # key -> wall clock time the table's values were last confirmed current (loaded, or
        # found unchanged); what iceberg_table_metrics_age_seconds counts from.
        self.confirmed_at: dict[tuple[str, str], float] = {}
        self._not_modified: dict[tuple[str, str], float] = {}  # this cycle's REST 304s -> time
        self._listing: dict[tuple[str, str], Any] = {}  # this cycle's TableRef per owned table
        # key -> (metadata location, REST ETag, monotonic time after which it is reloaded anyway)
        self._sources: dict[tuple[str, str], tuple[str | None, str | None, float]] = {}

    # -- listing -----------------------------------------------------------------
    def _list_tables(self) -> list[Any]:
        """A TableRef (database, table, metadata location if known) per table listed."""
        def missing(namespace: str) -> None:
            self._count("not_found")
            log.warning("namespace %s does not exist", namespace)

        return catalogs.list_table_refs(self.catalogs.get(), self.config.namespaces, missing)

    def _refresh_at(self, key: tuple[str, str], loaded_at: float) -> float:
        """--full-refresh-interval: reload after 50-100% of it, spread by a hash of the name."""
        interval = self.config.full_refresh_interval
        if interval is None:
            return float("inf")
        spread = zlib.crc32(f"{key[0]}.{key[1]}".encode()) / 0xFFFFFFFF
        return loaded_at + interval * (0.5 + 0.5 * spread)

    def _cached_source(self, key: tuple[str, str], now: float) -> tuple[str | None, str | None] | None:
        """(location, etag) of the last successful load, if its values may be reused."""
        source = self._sources.get(key)
        if source is None or key not in self.stats or not self.last_attempt_ok.get(key, False):
            return None
        if now >= source[2]:  # full refresh due
            return None
        return source[0], source[1]

    def _unchanged_keys(self, refs: list[Any], now: float) -> list[tuple[str, str]]:
        """Tables the listing shows at the metadata location of their last successful load.

        The hot loop of a steady cycle (one pass over every table), kept to dict lookups.
        """
        sources, stats, attempt_ok = self._sources, self.stats, self.last_attempt_ok
        out = []
        for ref in refs:
            location = ref[2]
            if location is None:
                continue
            key = (ref[0], ref[1])
            source = sources.get(key)
            if source is not None and source[0] == location and now < source[2] and attempt_ok.get(key) and key in stats:
                out.append(key)
        return out

    # -- one table ---------------------------------------------------------------
    def _read_manifest(self, io: Any, manifest: Any) -> FileStats:
        with self._lock:
            self.manifest_reads += 1
        return manifest_file_stats(io, manifest, self.config.small_file_bytes)

    def _snapshot_file_stats(self, key: tuple[str, str], io: Any, snapshot: Any) -> FileStats:
        entry = self._snapshots.get(key)
        if entry is not None and entry.snapshot_id == snapshot.snapshot_id:
            return entry.stats
        with self._lock:
            self.manifest_list_reads += 1
        manifests = snapshot.manifests(io)
        total = FileStats()
        for manifest in manifests:
            path = manifest.manifest_path
            cached = self._manifests.get(path)
            stats = cached[0] if cached is not None else self._read_manifest(io, manifest)
            self._manifests[path] = (stats, self.cycles)
            total = total + stats
        self._snapshots[key] = _SnapshotEntry(
            snapshot.snapshot_id, total, tuple(m.manifest_path for m in manifests)
        )
        return total

    def collect_table(self, database: str, name: str) -> TableStats:
        """Load one table and compute its statistics (runs in a worker thread).

        With the metadata location known from this cycle's listing (SQL, Hive), exactly
        that metadata file is read. Otherwise (REST) the catalog's load is conditional
        when the last load returned an ETag; ``304`` keeps the cached values.
        """
        key = (database, name)
        catalog = self.catalogs.get()
        ref = self._listing.get(key)
        location = ref.metadata_location if ref is not None else None
        ident = (*database.split("."), name)
        if location is not None:
            loaded = catalogs.load_at(catalog, location)
        elif catalogs.supports_conditional_load(catalog):
            cached_source = self._cached_source(key, time.monotonic())
            etag = cached_source[1] if cached_source is not None else None
            result = catalogs.load_rest_conditional(catalog, ident, etag)
            if result is catalogs.NOT_MODIFIED:
                self._not_modified[key] = time.time()
                return self.stats[key]  # the cached values, confirmed
            loaded = result
        else:
            loaded = catalogs.load_full(catalog, ident)
        with self._lock:
            self.metadata_reads += 1
        stats = self._table_stats(key, loaded.metadata, loaded.io)
        self._sources[key] = (loaded.metadata_location, loaded.etag, self._refresh_at(key, time.monotonic()))
        return stats

    def _table_stats(self, key: tuple[str, str], metadata: Any, io: Any) -> TableStats:
        now = time.time()
        snapshot = metadata.current_snapshot()
        if snapshot is None:
            self._snapshots.pop(key, None)
            return snapshot_table_stats(key, metadata, None, None, now)
        return snapshot_table_stats(key, metadata, snapshot, self._snapshot_file_stats(key, io, snapshot), now)

    # -- cycle -------------------------------------------------------------------
    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + n

    def run_cycle(self, stop: threading.Event | None = None) -> CycleResult:
        start = time.monotonic()
        timeout = self.config.table_timeout
        errors: dict[str, int] = {}
        try:
            refs = self.runner.call("catalog listing", self._list_tables, timeout, stop)
        except Cancelled:
            return CycleResult(False, time.monotonic() - start)
        except BaseException as exc:  # noqa: BLE001 - any failure here means "catalog down"
            kind = "timeout" if isinstance(exc, CallTimeout) else "catalog"
            self._count(kind)
            self.up = 0
            self.catalogs.invalidate()
            log.warning("catalog %s unreachable: %s: %s", self.config.redacted_uri(), type(exc).__name__, exc)
            result = CycleResult(False, time.monotonic() - start, errors={kind: 1})
            self.last_cycle = result
            return result
        self.up = 1

        # Sharding, then change detection: a table whose metadata location is the one of
        # its last successful load is not loaded; its cached values are confirmed.
        listed_count = len(refs)
        if self.config.shard_count > 1:
            refs = [r for r in refs if self.config.owns(r[0], r[1])]
        self._listing = {(r[0], r[1]): r for r in refs}
        tables = list(self._listing)
        unchanged = self._unchanged_keys(refs, time.monotonic())
        unchanged_set = set(unchanged)
        self._not_modified = {}  # collect_table records the REST 304s
        outcomes = self.runner.run(
            [
                ((db, tbl), (lambda db=db, tbl=tbl: self.collect_table(db, tbl)))
                for db, tbl in tables
                if (db, tbl) not in unchanged_set
            ],
            timeout,
            stop,
        )
        listed = set(tables)
        failed = 0
        new_stats = dict(self.stats)
        attempt_ok: dict[tuple[str, str], bool] = dict.fromkeys(unchanged, True)
        confirmed = self.confirmed_at.copy()
        confirmed.update(dict.fromkeys(unchanged, time.time()))
        not_modified = self._not_modified
        for outcome in outcomes:
            key = outcome.key
            if outcome.ok:
                new_stats[key] = outcome.value
                attempt_ok[key] = True
                confirmed[key] = not_modified.get(key, outcome.value.collected_at)
                continue
            if isinstance(outcome.error, Cancelled):
                attempt_ok[key] = self.last_attempt_ok.get(key, False)
                continue
            failed += 1
            attempt_ok[key] = False
            kind = classify_error(outcome.error) if outcome.error is not None else "other"
            errors[kind] = errors.get(kind, 0) + 1
            log.warning(
                "table %s.%s skipped this cycle (%s): %s: %s",
                key[0],
                key[1],
                kind,
                type(outcome.error).__name__,
                outcome.error,
            )
            if kind == "not_found":
                new_stats.pop(key, None)  # vanished: drop its series
                self._snapshots.pop(key, None)
                self._sources.pop(key, None)
        # Tables no longer listed (or now another shard's) are gone: drop their series and caches.
        # (list(...) copies atomically: a worker abandoned in an earlier cycle may still
        # add to _snapshots/_sources when its call finally returns.)
        for cache in (new_stats, self._snapshots, self._sources, confirmed):
            for key in [key for key in list(cache) if key not in listed]:
                cache.pop(key, None)
        # Keep manifests the current snapshots reference, and those used in the last two
        # cycles: a table that timed out half-way through its manifests resumes from them.
        # (A cycle that loaded nothing changed no snapshot: nothing to prune.)
        if outcomes:
            live_paths = {p for e in list(self._snapshots.values()) for p in e.manifest_paths}
            for path, (_, used) in list(self._manifests.items()):
                if path not in live_paths and used < self.cycles - 1:
                    del self._manifests[path]

        for kind, n in errors.items():
            self._count(kind, n)
        duration = time.monotonic() - start
        with self._lock:
            self.stats = new_stats
            self.last_attempt_ok = {k: v for k, v in attempt_ok.items() if k in listed}
            self.tables_seen = len(tables)
            self.tables_listed = listed_count
            self.confirmed_at = confirmed
            self.tables_unchanged = len(unchanged) + len(not_modified)
            self.tables_failed = failed
            self.cycles += 1
            self.last_success_time = time.time()
        result = CycleResult(True, duration, len(tables), failed, errors)
        self.last_cycle = result
        return result

    def close(self) -> None:
        self.runner.close()
