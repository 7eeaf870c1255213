"""The Iceberg exporter over a real Iceberg REST catalog HTTP server on 127.0.0.1.

The server (tests/fake_rest_catalog.py) serves the tables of a real pyiceberg SQL catalog
and sends ETags; the exporter loads with If-None-Match and counts a 304 as unchanged.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures, also if tests/ becomes a package

from fake_rest_catalog import FakeRestCatalog  # noqa: I001
from iceberg_fixtures import LocalCatalog, assert_state, build_tables, rows, samples_of, tv


from exporters.iceberg.collector import IcebergCollector
from exporters.iceberg.config import Config
from exporters.iceberg.metrics import Exposition

SMALL = 50_000


@pytest.fixture
def local(tmp_path):
    return LocalCatalog(tmp_path / "cat")


@pytest.fixture
def collectors():
    made: list[IcebergCollector] = []
    yield made
    for c in made:
        c.close()


def rest_collector(server: FakeRestCatalog, collectors: list, **overrides) -> IcebergCollector:
    settings = dict(catalog_type="rest", catalog_uri=server.uri, small_file_bytes=SMALL, table_timeout=10, workers=2)
    collector = IcebergCollector(Config(**{**settings, **overrides}))
    collectors.append(collector)
    return collector


def test_conditional_loads_with_etag(local, collectors):
    build_tables(local)
    with FakeRestCatalog(local) as server:
        collector = rest_collector(server, collectors)
        exposition = Exposition(collector)
        result = collector.run_cycle()
        assert result.ok and result.tables_seen == 3 and result.tables_failed == 0, result
        assert sorted(server.load_statuses()) == [200, 200, 200]
        exposition.publish()
        samples = samples_of(exposition)
        for db, tbl in (("sales", "orders"), ("sales", "empty"), ("ops", "events")):
            assert_state(samples, db, tbl, local.catalog.load_table(f"{db}.{tbl}"), SMALL)
        assert collector.metadata_reads == 3

        # Unchanged: every load is answered 304, nothing is parsed, values confirmed.
        server.reset()
        before = collector.stats[("sales", "orders")]
        time.sleep(0.05)
        assert collector.run_cycle().ok
        assert server.load_statuses() == [304, 304, 304]
        assert collector.metadata_reads == 3 and collector.tables_unchanged == 3
        assert collector.stats[("sales", "orders")] is before  # the cached values, confirmed
        assert collector.confirmed_at[("sales", "orders")] > before.collected_at
        exposition.publish()
        samples = samples_of(exposition)
        assert tv(samples, "iceberg_table_collection_ok", "sales", "orders") == 1
        assert samples[("iceberg_exporter_tables_unchanged", ())] == 3

        # A commit: that table's ETag changes, it is loaded in full (one read), the others 304.
        local.catalog.load_table("sales.orders").append(rows(5000, 7))
        server.reset()
        assert collector.run_cycle().ok
        assert sorted(server.load_statuses()) == [200, 304, 304]
        assert collector.metadata_reads == 4 and collector.tables_unchanged == 2
        exposition.publish()
        samples = samples_of(exposition)
        assert_state(samples, "sales", "orders", local.catalog.load_table("sales.orders"), SMALL)
        assert tv(samples, "iceberg_table_records_count", "sales", "orders") == 2017


def test_server_without_etag_gets_full_loads(local, collectors):
    local.create("db.t").append(rows(0, 4))
    with FakeRestCatalog(local, etags=False) as server:
        collector = rest_collector(server, collectors)
        for cycle in range(1, 4):
            assert collector.run_cycle().ok
            assert collector.metadata_reads == cycle  # no ETag: a full load every cycle
        assert server.load_statuses() == [200, 200, 200]
        assert collector.tables_unchanged == 0
        assert collector.stats[("db", "t")].records == 4


def test_rest_catalog_goes_away_and_comes_back(local, collectors):
    local.create("db.t").append(rows(0, 5))
    server = FakeRestCatalog(local)
    server.start()
    try:
        collector = rest_collector(server, collectors, table_timeout=5)
        assert collector.run_cycle().ok and collector.up == 1
        first = collector.stats[("db", "t")]
        server.stop()
        assert not collector.run_cycle().ok and collector.up == 0
        assert collector.stats[("db", "t")] == first
        server.start()
        assert collector.run_cycle().ok and collector.up == 1
        assert server.load_statuses()[-1] == 304  # the ETag survived the outage
        local.catalog.load_table("db.t").append(rows(5, 5))
        assert collector.run_cycle().ok
        assert collector.stats[("db", "t")].records == 10
    finally:
        server.stop()


def test_full_refresh_ignores_the_etag(local, collectors):
    local.create("db.t").append(rows(0, 4))
    with FakeRestCatalog(local) as server:
        collector = rest_collector(server, collectors, full_refresh_interval=0.0)
        for _ in range(3):
            assert collector.run_cycle().ok
        assert server.load_statuses() == [200, 200, 200]
        assert collector.metadata_reads == 3
