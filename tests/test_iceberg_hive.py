"""The Iceberg exporter over a real Hive Metastore thrift connection on 127.0.0.1.

The metastore (tests/fake_hive_metastore.py) is hive_metastore.ThriftHiveMetastore's
Processor serving the tables of a real pyiceberg SQL catalog whose metadata files
pyiceberg wrote; the exporter and pyiceberg's own HiveCatalog talk to it over TCP.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures, also if tests/ becomes a package

from fake_hive_metastore import FakeHiveMetastore  # noqa: I001
from iceberg_fixtures import LocalCatalog, assert_state, build_tables, rows, samples_of, tv


from exporters.iceberg.collector import IcebergCollector
from exporters.iceberg.config import Config
from exporters.iceberg.metrics import Exposition

SMALL = 50_000


@pytest.fixture
def local(tmp_path):
    return LocalCatalog(tmp_path / "cat")


@pytest.fixture
def metastore(local):
    server = FakeHiveMetastore(local)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def collectors():
    made: list[IcebergCollector] = []
    yield made
    for c in made:
        c.close()


def hive_collector(metastore: FakeHiveMetastore, collectors: list, **overrides) -> IcebergCollector:
    settings = dict(catalog_type="hive", catalog_uri=metastore.uri, small_file_bytes=SMALL, table_timeout=10, workers=2)
    cfg = Config(**{**settings, **overrides})
    collector = IcebergCollector(cfg)
    collectors.append(collector)
    return collector


def test_pyiceberg_hive_catalog_reads_the_fake_metastore(local, metastore):
    """The server speaks the protocol pyiceberg's HiveCatalog expects."""
    from pyiceberg.catalog.hive import HiveCatalog

    build_tables(local)
    hive = HiveCatalog("hive", uri=metastore.uri)
    assert sorted(hive.list_namespaces()) == [("ops",), ("sales",)]
    assert sorted(hive.list_tables("sales")) == [("sales", "empty"), ("sales", "orders")]
    loaded = hive.load_table("sales.orders")
    assert loaded.metadata_location == local.catalog.load_table("sales.orders").metadata_location
    assert loaded.scan().to_arrow().num_rows == 2010


def test_values_over_hive_equal_real_state_and_listing_is_batched(local, metastore, collectors):
    build_tables(local)
    metastore.add_plain_table("sales", "legacy_csv")  # not an Iceberg table: ignored
    collector = hive_collector(metastore, collectors)
    exposition = Exposition(collector)

    result = collector.run_cycle()
    assert result.ok and result.tables_seen == 3 and result.tables_failed == 0, result
    exposition.publish()
    samples = samples_of(exposition)
    assert_state(samples, "sales", "orders", local.catalog.load_table("sales.orders"), SMALL)
    assert_state(samples, "sales", "empty", local.catalog.load_table("sales.empty"), SMALL)
    assert_state(samples, "ops", "events", local.catalog.load_table("ops.events"), SMALL)
    assert tv(samples, "iceberg_table_files_count", "sales", "legacy_csv") is None
    assert samples[("iceberg_exporter_up", ())] == 1

    # The listing: databases, table names and one batch call per database; no per-table call.
    assert metastore.calls["get_all_databases"] == 1
    assert metastore.calls["get_all_tables"] == 2
    assert metastore.calls["get_table_objects_by_name_req"] == 2
    assert metastore.calls["get_table"] == 0
    assert sorted(metastore.batch_sizes) == [1, 3]

    # Steady state: the same calls, no metadata file read, values confirmed.
    metastore.reset_calls()
    reads = collector.metadata_reads
    assert collector.run_cycle().ok
    assert collector.metadata_reads == reads and collector.tables_unchanged == 3
    assert metastore.calls["get_table"] == 0 and metastore.calls["get_table_objects_by_name_req"] == 2

    # A commit (through another engine: the SQL catalog) shows up; one metadata file read.
    local.catalog.load_table("sales.orders").append(rows(5000, 7))
    assert collector.run_cycle().ok
    assert collector.metadata_reads == reads + 1 and collector.tables_unchanged == 2
    exposition.publish()
    samples = samples_of(exposition)
    assert_state(samples, "sales", "orders", local.catalog.load_table("sales.orders"), SMALL)
    assert tv(samples, "iceberg_table_records_count", "sales", "orders") == 2017


def test_metastore_without_request_form_falls_back(local, collectors):
    local.create("db.t").append(rows(0, 4))
    with FakeHiveMetastore(local, supports_req=False) as metastore:
        collector = hive_collector(metastore, collectors)
        assert collector.run_cycle().ok
        assert collector.stats[("db", "t")].records == 4
        assert metastore.calls["get_table_objects_by_name"] == 1
        # Remembered: the next cycle goes straight to the old call.
        metastore.reset_calls()
        assert collector.run_cycle().ok
        assert metastore.calls["get_table_objects_by_name"] == 1


def test_metastore_goes_away_and_comes_back(local, metastore, collectors):
    local.create("db.t").append(rows(0, 5))
    collector = hive_collector(metastore, collectors, table_timeout=5)
    exposition = Exposition(collector)
    assert collector.run_cycle().ok and collector.up == 1
    first = collector.stats[("db", "t")]

    metastore.stop()
    result = collector.run_cycle()
    assert not result.ok and collector.up == 0 and collector.errors["catalog"] == 1
    assert collector.stats[("db", "t")] == first  # last good values kept
    exposition.publish()  # what the app does not do after a failed cycle; values still there
    assert tv(samples_of(exposition), "iceberg_table_records_count", "db", "t") == 5

    local.catalog.load_table("db.t").append(rows(5, 5))
    metastore.start()  # same port
    time.sleep(0.05)
    result = collector.run_cycle()
    assert result.ok and collector.up == 1, result
    assert collector.stats[("db", "t")].records == 10
    exposition.publish()
    samples = samples_of(exposition)
    assert_state(samples, "db", "t", local.catalog.load_table("db.t"), SMALL)
    assert tv(samples, "iceberg_table_collection_ok", "db", "t") == 1


def test_missing_database_is_not_found(local, metastore, collectors):
    local.create("db.t").append(rows(0, 2))
    collector = hive_collector(metastore, collectors, namespaces=("db", "nope"))
    result = collector.run_cycle()
    assert result.ok and result.tables_seen == 1
    assert collector.errors["not_found"] == 1
