"""Iceberg exporter: exported values against real pyiceberg tables, caching, configuration.

Fault tolerance, HTTP and process tests are in test_iceberg_exporter_faults.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures, also if tests/ becomes a package

from iceberg_fixtures import REPO_ROOT, LocalCatalog, expected_state, rows  # noqa: I001

from exporters.iceberg.collector import IcebergCollector
from exporters.iceberg.config import ConfigError, load_config, parse_duration, parse_size
from exporters.iceberg.metrics import Exposition

from prometheus_client.parser import text_string_to_metric_families

SMALL = 50_000  # threshold between the "small" (~1 KB) and "big" (>100 KB) files written below


def scrape(exposition: Exposition) -> dict[tuple[str, tuple], float]:
    """Parse the exposition body: {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(exposition.body().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def table_value(samples, name, db, tbl):
    return samples.get((name, (("database", db), ("table", tbl))))


def assert_exported(samples, db, tbl, table, threshold=SMALL):
    exp = expected_state(table, threshold)
    got = {
        "size_bytes": table_value(samples, "iceberg_table_size_bytes", db, tbl),
        "data_files": table_value(samples, "iceberg_table_files_count", db, tbl),
        "records": table_value(samples, "iceberg_table_records_count", db, tbl),
        "delete_files": table_value(samples, "iceberg_table_delete_files_count", db, tbl),
        "small_files": table_value(samples, "iceberg_table_small_files_count", db, tbl),
        "snapshots_count": table_value(samples, "iceberg_table_snapshots_count", db, tbl),
        "last_update_seconds": table_value(samples, "iceberg_table_last_update_timestamp", db, tbl),
    }
    want = {k: (float(v) if v is not None else None) for k, v in vars(exp).items()}
    assert got == pytest.approx(want), f"{db}.{tbl}"
    return exp


@pytest.fixture
def local(tmp_path):
    return LocalCatalog(tmp_path)


def make_collector(local: LocalCatalog, **overrides):
    cfg = local.config(small_file_bytes=SMALL, **overrides)
    collector = IcebergCollector(cfg)
    return collector, Exposition(collector)


def test_exported_values_equal_real_table_state(local):
    empty = local.create("sales.empty")
    mixed = local.create("sales.orders")
    for i in range(3):
        mixed.append(rows(i * 10, 10, payload_bytes=4))  # small files
    mixed.append(rows(1000, 2000, payload_bytes=100))  # a big file
    churn = local.create("ops.events")
    churn.append(rows(0, 50))
    churn.append(rows(50, 50))
    churn.overwrite(rows(0, 30))
    churn.append(rows(100, 40))
    churn.delete("id < 10")

    collector, exposition = make_collector(local)
    result = collector.run_cycle()
    assert result.ok and result.tables_seen == 3 and result.tables_failed == 0
    exposition.publish()
    samples = scrape(exposition)

    exp = assert_exported(samples, "sales", "orders", local.catalog.load_table("sales.orders"))
    assert 0 < exp.small_files < exp.data_files  # the threshold really splits the files
    assert exp.records == local.catalog.load_table("sales.orders").scan().to_arrow().num_rows

    churn = local.catalog.load_table("ops.events")
    exp = assert_exported(samples, "ops", "events", churn)
    assert exp.records == churn.scan().to_arrow().num_rows == 60  # 30 - 10 deleted + 40
    assert exp.snapshots_count >= 5

    # Empty table: zeros, snapshot count 0, and no last-update series (documented choice).
    assert_exported(samples, "sales", "empty", empty)
    assert table_value(samples, "iceberg_table_last_update_timestamp", "sales", "empty") is None
    assert table_value(samples, "iceberg_table_files_count", "sales", "empty") == 0

    assert samples[("iceberg_exporter_up", ())] == 1
    assert samples[("iceberg_exporter_tables_seen", ())] == 3
    for tbl in ("orders", "empty"):
        assert table_value(samples, "iceberg_table_collection_ok", "sales", tbl) == 1
        assert 0 <= table_value(samples, "iceberg_table_metrics_age_seconds", "sales", tbl) < 60


def test_small_file_threshold_counts_by_size(local):
    t = local.create("db.t")
    t.append(rows(0, 5, payload_bytes=4))
    t.append(rows(5, 3000, payload_bytes=100))
    t = local.catalog.load_table("db.t")
    sizes = sorted(f["file_size_in_bytes"] for f in t.inspect.files().to_pylist())
    assert len(sizes) == 2
    for threshold, expected_small in ((sizes[0], 0), (sizes[0] + 1, 1), (sizes[1], 1), (sizes[1] + 1, 2)):
        collector = IcebergCollector(local.config(small_file_bytes=threshold))
        collector.run_cycle()
        assert collector.stats[("db", "t")].small_files == expected_small, threshold


def test_cache_is_used_and_does_not_go_stale(local, monkeypatch):
    from pyiceberg.manifest import ManifestFile

    reads = []
    original = ManifestFile.fetch_manifest_entry

    def spy(self, io, discard_deleted=True):
        reads.append(self.manifest_path)
        return original(self, io, discard_deleted)

    monkeypatch.setattr(ManifestFile, "fetch_manifest_entry", spy)

    t = local.create("db.t")
    for i in range(4):
        t.append(rows(i * 10, 10))
    other = local.create("db.other")
    other.append(rows(0, 10))
    collector, exposition = make_collector(local)

    collector.run_cycle()
    first = len(reads)
    assert first == 5  # 4 manifests of db.t (fast appends) + 1 of db.other

    # Snapshots unchanged: no manifest and no manifest list is read.
    lists_before = collector.manifest_list_reads
    collector.run_cycle()
    collector.run_cycle()
    assert len(reads) == first
    assert collector.manifest_list_reads == lists_before

    # A new snapshot: values follow it, and only the new manifest is read.
    t = local.catalog.load_table("db.t")
    t.append(rows(100, 3000, payload_bytes=100))
    collector.run_cycle()
    assert len(reads) == first + 1
    exposition.publish()
    samples = scrape(exposition)
    exp = assert_exported(samples, "db", "t", local.catalog.load_table("db.t"))
    assert exp.data_files == 5 and exp.small_files == 4

    # A delete rewrites files: the cached counts must not survive it.
    t = local.catalog.load_table("db.t")
    t.delete("id < 25")  # drops two small files, rewrites one
    collector.run_cycle()
    exposition.publish()
    exp = assert_exported(scrape(exposition), "db", "t", local.catalog.load_table("db.t"))
    assert exp.data_files < 5
    assert samples[("iceberg_exporter_manifest_reads_total", ())] == first + 1


def test_totals_fall_back_to_manifests_when_summary_lacks_them(local, monkeypatch):
    t = local.create("db.t")
    t.append(rows(0, 10))
    t.append(rows(10, 2000, payload_bytes=100))

    from pyiceberg.table.snapshots import Summary

    monkeypatch.setattr(Summary, "additional_properties", property(lambda self: {}))
    collector, exposition = make_collector(local)
    collector.run_cycle()
    stats = collector.stats[("db", "t")]
    assert stats.totals_source == "manifests"
    exposition.publish()
    monkeypatch.undo()
    assert_exported(scrape(exposition), "db", "t", local.catalog.load_table("db.t"))


def test_namespaces_filter(local):
    local.create("a.t1").append(rows(0, 3))
    local.create("b.t2").append(rows(0, 3))
    collector = IcebergCollector(local.config(namespaces=("b",)))
    assert collector.run_cycle().ok
    assert set(collector.stats) == {("b", "t2")}


def test_dropped_table_series_disappear(local):
    local.create("db.keep").append(rows(0, 3))
    local.create("db.gone").append(rows(0, 3))
    collector, exposition = make_collector(local)
    collector.run_cycle()
    assert set(collector.stats) == {("db", "keep"), ("db", "gone")}
    local.catalog.drop_table("db.gone")
    collector.run_cycle()
    exposition.publish()
    samples = scrape(exposition)
    assert table_value(samples, "iceberg_table_files_count", "db", "gone") is None
    assert table_value(samples, "iceberg_table_files_count", "db", "keep") == 1


# -- configuration -------------------------------------------------------------------


def test_durations_and_sizes():
    assert parse_duration("30s") == 30
    assert parse_duration("5m") == 300
    assert parse_duration("1h") == 3600
    assert parse_duration("250ms") == 0.25
    assert parse_duration("12") == 12
    for bad in ("", "abc", "5x", "-1s", "0s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_size("32MiB") == 32 * 1024 * 1024
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("lots")


def test_flags_env_and_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config([], env={})
    assert cfg.catalog_type == "sql" and cfg.local_default
    assert cfg.catalog_uri.startswith("sqlite:///") and cfg.warehouse.startswith("file://")
    assert (cfg.port, cfg.interval, cfg.table_timeout, cfg.small_file_bytes) == (9123, 300, 30, 32 * 1024 * 1024)

    env = {
        "ICEBERG_EXPORTER_CATALOG_TYPE": "hive",
        "HIVE_METASTORE_URI": "thrift://hive-metastore:9083",
        "ICEBERG_EXPORTER_INTERVAL": "1m",
        "ICEBERG_EXPORTER_PORT": "9200",
        "ICEBERG_EXPORTER_NAMESPACES": "a, b",
        "ICEBERG_EXPORTER_S3_SECRET_ACCESS_KEY": "from-env-only",
    }
    cfg = load_config(["--port", "9300", "--table-timeout", "5s", "--small-file-bytes", "1024"], env=env)
    assert cfg.catalog_type == "hive" and cfg.catalog_uri == "thrift://hive-metastore:9083"
    assert (cfg.port, cfg.interval, cfg.table_timeout, cfg.small_file_bytes) == (9300, 60, 5, 1024)
    assert cfg.namespaces == ("a", "b")
    props = cfg.catalog_props(env)
    assert props["s3.secret-access-key"] == "from-env-only" and props["type"] == "hive"

    cfg = load_config(["--catalog-type", "rest", "--catalog-uri", "http://rest:8181"], env={})
    assert cfg.catalog_type == "rest"


def test_bad_config_lists_every_problem():
    with pytest.raises(ConfigError) as err:
        load_config(
            ["--catalog-type", "hive", "--interval", "soon", "--port", "99999", "--small-file-bytes", "big"],
            env={"ICEBERG_EXPORTER_TABLE_TIMEOUT": "0s"},
        )
    text = "\n".join(err.value.problems)
    assert len(err.value.problems) == 5, text
    assert "--catalog-uri / ICEBERG_EXPORTER_CATALOG_URI or HIVE_METASTORE_URI" in text
    assert "--interval / ICEBERG_EXPORTER_INTERVAL" in text
    assert "--port / ICEBERG_EXPORTER_PORT" in text
    assert "--small-file-bytes / ICEBERG_EXPORTER_SMALL_FILE_BYTES" in text
    assert "--table-timeout / ICEBERG_EXPORTER_TABLE_TIMEOUT" in text


def test_credentials_are_refused_on_the_command_line():
    with pytest.raises(ConfigError) as err:
        load_config(
            [
                "--catalog-uri",
                "postgresql://user:hunter2@db/catalog",
                "--catalog-property",
                "token=abc",
            ],
            env={},
        )
    text = "\n".join(err.value.problems)
    assert "password" in text and "ICEBERG_EXPORTER_CATALOG_URI" in text
    assert "'token' looks like a credential" in text
    assert "hunter2" not in text
    # The same URI from the environment is accepted.
    cfg = load_config([], env={"ICEBERG_EXPORTER_CATALOG_URI": "postgresql://user:hunter2@db/catalog"})
    assert "hunter2" not in cfg.redacted_uri()


def run_cli(*args, env=None, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "exporters.iceberg", *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_bad_config_exits_2_with_one_line_per_problem():
    proc = run_cli("--catalog-type", "nessie", "--interval", "forever", env={"ICEBERG_EXPORTER_WORKERS": "0"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith("iceberg-exporter: configuration error: ") for line in lines)
    assert any("--catalog-type / ICEBERG_EXPORTER_CATALOG_TYPE" in line for line in lines)
    assert any("--interval / ICEBERG_EXPORTER_INTERVAL" in line for line in lines)
    assert any("--workers / ICEBERG_EXPORTER_WORKERS" in line for line in lines)


def test_cli_help_documents_flags_and_env_vars():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for flag in (
        "--catalog-type",
        "--catalog-uri",
        "--warehouse",
        "--port",
        "--interval",
        "--small-file-bytes",
        "--table-timeout",
        "--listen-address",
        "--namespaces",
    ):
        assert flag in proc.stdout
        env = "ICEBERG_EXPORTER_" + flag[2:].upper().replace("-", "_")
        assert env in proc.stdout
    assert "HIVE_METASTORE_URI" in proc.stdout
    assert "ICEBERG_EXPORTER_REST_TOKEN" in proc.stdout


def test_metrics_catalog_matches_exposition(local):
    """docs/metrics/iceberg-exporter.yaml lists exactly what the exporter emits."""
    import yaml

    local.create("db.t").append(rows(0, 3))
    local.create("db.broken").append(rows(0, 3))
    collector, exposition = make_collector(local)
    collector.run_cycle()
    exposition.publish()
    emitted = {}
    for f in text_string_to_metric_families(exposition.body().decode()):
        name = f.name + ("_total" if f.type == "counter" else "")
        labels = sorted({k for s in f.samples for k in s.labels if k != "le"})
        emitted[name] = {"type": f.type, "labels": labels, "help": f.documentation}
    entries = yaml.safe_load((REPO_ROOT / "docs/metrics/iceberg-exporter.yaml").read_text())
    documented = {}
    for e in entries:
        required = {"name", "source", "type", "labels", "verified_against", "help"}
        # Histograms and summaries also list their series suffixes (the rules read those names).
        assert set(e) == required | ({"series"} if e["type"] in ("histogram", "summary") else set()), e
        documented[e["name"]] = {"type": e["type"], "labels": sorted(e["labels"]), "help": e["help"]}
    # _created series are not part of the contract (the CLI disables them).
    emitted = {k: v for k, v in emitted.items() if not k.endswith("_created")}
    assert documented == emitted
    assert "iceberg_table_small_files_count" in documented
