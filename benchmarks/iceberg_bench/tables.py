"""The benchmark's Iceberg tables: a SQL catalog built by pyiceberg appends, or a lake written directly.

``build_catalog`` writes real tables through pyiceberg (``--pyiceberg-writer``);
``build_lake`` writes only the metadata (manifests, manifest lists, metadata JSON and
catalog rows) in the layout of pyiceberg's fast appends, fast enough for 10,000 tables.
Both split the work over processes (``spawn``), which import this module by name.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import sqlite3
import time
import uuid
from pathlib import Path

import pyarrow as pa

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
