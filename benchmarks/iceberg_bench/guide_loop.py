"""The guide's metrics loop (section 1.4), reimplemented as the baseline the exporter is timed against."""

from __future__ import annotations


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
