"""What one Iceberg table's metrics are: totals from the snapshot summary, live files from manifests.

Pure functions of the table's metadata and files: no catalog access, no caching (the
collector, :mod:`exporters.iceberg.collector`, decides what is read and keeps the
results).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SUMMARY_TOTALS = {
    "size_bytes": "total-files-size",
    "data_files": "total-data-files",
    "records": "total-records",
    "delete_files": "total-delete-files",
}


@dataclass(frozen=True)
class FileStats:
    """Live files of one manifest or of a whole snapshot."""

    data_files: int = 0
    data_bytes: int = 0
    records: int = 0
    small_files: int = 0
    delete_files: int = 0
    delete_bytes: int = 0

    def __add__(self, other: "FileStats") -> "FileStats":
        return FileStats(
            self.data_files + other.data_files,
            self.data_bytes + other.data_bytes,
            self.records + other.records,
            self.small_files + other.small_files,
            self.delete_files + other.delete_files,
            self.delete_bytes + other.delete_bytes,
        )


@dataclass(frozen=True)
class TableStats:
    database: str
    table: str
    snapshot_id: int | None
    size_bytes: int
    data_files: int
    records: int
    delete_files: int
    small_files: int
    snapshots_count: int
    last_update_seconds: float | None  # None for a table without a current snapshot
    collected_at: float  # wall clock (time.time()) of the load these values come from
    # (IcebergCollector.confirmed_at[key] is when they were last confirmed current: the age metric)
    totals_source: str  # "summary", "manifests" or "empty"


def manifest_file_stats(io: Any, manifest: Any, small_file_bytes: int) -> FileStats:
    """The live files of one manifest; data files under ``small_file_bytes`` count as small."""
    from pyiceberg.manifest import DataFileContent

    data_files = data_bytes = records = small = delete_files = delete_bytes = 0
    for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
        df = entry.data_file
        size = int(df.file_size_in_bytes)
        if df.content == DataFileContent.DATA:
            data_files += 1
            data_bytes += size
            records += int(df.record_count)
            if size < small_file_bytes:
                small += 1
        else:
            delete_files += 1
            delete_bytes += size
    return FileStats(data_files, data_bytes, records, small, delete_files, delete_bytes)


def snapshot_table_stats(
    key: tuple[str, str], metadata: Any, snapshot: Any | None, files: FileStats | None, now: float
) -> TableStats:
    """The table's values: summary totals where the snapshot has them, else from ``files``
    (the current snapshot's live files); ``snapshot`` None for a table without one."""
    database, name = key
    snapshots_count = len(metadata.snapshots)
    if snapshot is None:
        return TableStats(database, name, None, 0, 0, 0, 0, 0, snapshots_count, None, now, "empty")
    props = snapshot.summary.additional_properties if snapshot.summary is not None else {}
    totals: dict[str, int] = {}
    for attr, prop in SUMMARY_TOTALS.items():
        try:
            totals[attr] = int(props[prop])
        except (KeyError, TypeError, ValueError):
            pass
    assert files is not None  # a snapshot comes with its files
    source = "summary"
    if len(totals) < len(SUMMARY_TOTALS):
        source = "manifests"
        fallback = {
            "size_bytes": files.data_bytes + files.delete_bytes,
            "data_files": files.data_files,
            "records": files.records,
            "delete_files": files.delete_files,
        }
        for attr, value in fallback.items():
            totals.setdefault(attr, value)
    return TableStats(
        database=database,
        table=name,
        snapshot_id=snapshot.snapshot_id,
        size_bytes=totals["size_bytes"],
        data_files=totals["data_files"],
        records=totals["records"],
        delete_files=totals["delete_files"],
        small_files=files.small_files,
        snapshots_count=snapshots_count,
        last_update_seconds=snapshot.timestamp_ms / 1000.0,
        collected_at=now,
        totals_source=source,
    )
