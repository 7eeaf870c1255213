"""--shard I/N: every table is exported by exactly one of N replicas, for any N."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures, also if tests/ becomes a package

from iceberg_fixtures import REPO_ROOT, LocalCatalog, rows  # noqa: I001

from exporters.iceberg.collector import IcebergCollector
from exporters.iceberg.sharding import jump_hash, shard_of
from exporters.iceberg.metrics import Exposition

from prometheus_client.parser import text_string_to_metric_families

NAMES = [(f"db{i % 7}", f"table_{i:05d}") for i in range(5000)] + [("sales", "orders"), ("ünï", "cödé")]


def test_shard_of_is_a_partition_for_every_n():
    for n in range(1, 9):
        owners = [shard_of(db, tbl, n) for db, tbl in NAMES]
        assert all(0 <= o < n for o in owners)
        counts = [owners.count(i) for i in range(n)]
        # Each shard owns its share (within 15% of len/n for 5,000 names).
        assert min(counts) > 0.85 * len(NAMES) / n and max(counts) < 1.15 * len(NAMES) / n, (n, counts)


def test_growing_n_moves_tables_only_to_the_new_shard():
    for n in range(1, 8):
        moved = 0
        for db, tbl in NAMES:
            before, after = shard_of(db, tbl, n), shard_of(db, tbl, n + 1)
            if before != after:
                assert after == n, (db, tbl, n)
                moved += 1
        assert moved < 1.3 * len(NAMES) / (n + 1)


def test_shard_of_is_stable_across_processes_and_not_pythons_hash():
    """Same answer in a fresh interpreter with a different hash seed, and from the documented formula."""
    code = (
        "from exporters.iceberg.sharding import shard_of;"
        "print([shard_of(f'db{i % 7}', f'table_{i:05d}', 5) for i in range(200)])"
    )
    outs = set()
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        outs.add(proc.stdout.strip())
    here = str([shard_of(f"db{i % 7}", f"table_{i:05d}", 5) for i in range(200)])
    assert outs == {here}
    key = int.from_bytes(hashlib.sha1(b"sales.orders").digest()[:8], "big")
    assert shard_of("sales", "orders", 5) == jump_hash(key, 5)


def test_jump_hash_reference_values():
    # Lamping & Veach's jump consistent hash (arXiv:1406.2294); expected values as another
    # implementation gives them (ClickHouse's jumpConsistentHash, its test 00580's reference).
    cases = [((1, 1), 0), ((42, 57), 43), ((256, 1024), 520), ((3735883980, 1), 0), ((3735883980, 666), 361)]
    cases.append(((16045690984833335023, 255), 237))
    assert [jump_hash(*args) for args, _ in cases] == [want for _, want in cases]


@pytest.fixture
def local(tmp_path):
    cat = LocalCatalog(tmp_path / "cat")
    for i in range(24):
        cat.create(f"db{i % 3}.t{i:02d}").append(rows(i, 1 + i % 4))
    return cat


def test_n_real_collectors_export_every_table_exactly_once(local):
    everything = {(f"db{i % 3}", f"t{i:02d}") for i in range(24)}
    previous_owner: dict[tuple[str, str], int] = {}
    for n in range(1, 6):
        exported: list[tuple[str, str]] = []
        owner: dict[tuple[str, str], int] = {}
        for i in range(n):
            collector = IcebergCollector(local.config(shard_index=i, shard_count=n))
            try:
                result = collector.run_cycle()
                assert result.ok and result.tables_failed == 0
                assert collector.tables_listed == 24 and collector.tables_seen == len(collector.stats)
                exposition = Exposition(collector)
                exposition.publish()
                text = exposition.body().decode()
            finally:
                collector.close()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            info = families["iceberg_exporter_shard_info"].samples
            assert [(s.labels, s.value) for s in info] == [({"shard": str(i), "shards": str(n)}, 1.0)]
            mine = {(s.labels["database"], s.labels["table"]) for s in families["iceberg_table_records_count"].samples}
            assert mine == set(collector.stats)
            exported.extend(mine)
            owner.update({key: i for key in mine})
        # n replicas: nothing missed, nothing counted twice.
        assert sorted(exported) == sorted(everything), n
        # Going from n-1 to n replicas, a table either stays or moves to the new replica.
        for key, was in previous_owner.items():
            assert owner[key] in (was, n - 1), (key, was, owner[key], n)
        previous_owner = owner


def test_a_table_leaving_the_shard_loses_its_series(local):
    collector = IcebergCollector(local.config())
    try:
        collector.run_cycle()
        assert len(collector.stats) == 24
        collector.config.shard_index, collector.config.shard_count = 1, 2
        collector.run_cycle()
        assert set(collector.stats) == {k for k in collector.stats if shard_of(*k, 2) == 1}
        assert 0 < len(collector.stats) < 24
        assert set(collector._sources) == set(collector.stats)
    finally:
        collector.close()
