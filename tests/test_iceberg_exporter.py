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
from exporters.iceberg.config import ConfigError, load_config
from exporters.iceberg.quantities import parse_duration, parse_size
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


def test_a_custom_s3_endpoint_gets_a_region_so_pyiceberg_never_asks_aws():
    """Without s3.region pyiceberg's S3 FileIO calls pyarrow.fs.resolve_s3_region (a request to
    AWS) even with s3.endpoint set; tests/test_real_object_storage.py caught it in the exporter."""
    endpoint = {"ICEBERG_EXPORTER_CATALOG_PROPERTY": "s3.endpoint=http://minio.minio.svc:9000"}
    assert load_config([], env=endpoint).catalog_props(endpoint)["s3.region"] == "us-east-1"
    env = {**endpoint, "AWS_REGION": "eu-west-1"}
    assert load_config([], env=env).catalog_props(env)["s3.region"] == "eu-west-1"
    env = {"ICEBERG_EXPORTER_CATALOG_PROPERTY": "s3.endpoint=http://minio:9000,s3.region=ap-northeast-2"}
    assert load_config([], env=env).catalog_props(env)["s3.region"] == "ap-northeast-2"
    assert "s3.region" not in load_config([], env={}).catalog_props({})  # AWS itself: pyiceberg resolves


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


# -- change detection ---------------------------------------------------------------


@pytest.fixture
def metadata_file_reads(monkeypatch):
    """Every table metadata file pyiceberg parses, counted at pyiceberg's own reader."""
    from pyiceberg.serializers import FromInputFile

    reads: list[str] = []
    original = FromInputFile.table_metadata

    def spy(input_file, encoding="utf-8"):
        reads.append(input_file.location)
        return original(input_file, encoding)

    monkeypatch.setattr(FromInputFile, "table_metadata", staticmethod(spy))
    return reads


@pytest.fixture
def sql_statements():
    """SELECT statements sent to any SQLAlchemy engine on iceberg_tables while active."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    yield statements
    event.remove(Engine, "before_cursor_execute", before)


def test_metadata_reads_zero_for_unchanged_tables_one_for_a_changed_one(local, metadata_file_reads):
    for name in ("a", "b", "c"):
        local.create(f"db.{name}").append(rows(0, 4))
    collector, exposition = make_collector(local)
    del metadata_file_reads[:]  # pyiceberg's own reads while writing the tables
    collector.run_cycle()
    assert len(metadata_file_reads) == 3 and collector.metadata_reads == 3

    # Nothing changed: no metadata file read, no manifest list read, values confirmed.
    lists_before = collector.manifest_list_reads
    del metadata_file_reads[:]
    result = collector.run_cycle()
    assert result.ok and result.tables_seen == 3
    assert metadata_file_reads == [] and collector.metadata_reads == 3
    assert collector.tables_unchanged == 3
    assert collector.manifest_list_reads == lists_before

    # One table gets a new snapshot: exactly its new metadata file is read, once.
    local.catalog.load_table("db.b").append(rows(4, 6))
    new_location = local.catalog.load_table("db.b").metadata_location
    expected_b = local.catalog.load_table("db.b")
    del metadata_file_reads[:]
    collector.run_cycle()
    assert metadata_file_reads == [new_location]
    assert collector.metadata_reads == 4 and collector.tables_unchanged == 2
    exposition.publish()
    samples = scrape(exposition)
    assert_exported(samples, "db", "b", expected_b)
    assert table_value(samples, "iceberg_table_records_count", "db", "b") == 10
    assert samples[("iceberg_exporter_metadata_reads_total", ())] == 4
    assert samples[("iceberg_exporter_tables_unchanged", ())] == 2


def test_unchanged_tables_keep_right_values_ages_and_ok(local, metadata_file_reads):
    import time

    t = local.create("db.t")
    t.append(rows(0, 10))
    collector, exposition = make_collector(local)
    want = local.catalog.load_table("db.t")
    del metadata_file_reads[:]
    collector.run_cycle()
    first = collector.stats[("db", "t")]
    time.sleep(0.3)
    collector.run_cycle()
    exposition.publish()
    samples = scrape(exposition)
    # Confirmed, not reloaded: the same values, confirmed now, so the age is near 0, ok 1.
    assert collector.stats[("db", "t")] is first
    assert collector.confirmed_at[("db", "t")] >= first.collected_at + 0.3
    assert len(metadata_file_reads) == 1
    assert table_value(samples, "iceberg_table_collection_ok", "db", "t") == 1
    assert table_value(samples, "iceberg_table_metrics_age_seconds", "db", "t") < 0.3
    assert_exported(samples, "db", "t", want)


def test_sql_catalog_listing_is_one_query_per_cycle(local, sql_statements):
    for i in range(12):
        local.create(f"db{i % 3}.t{i}").append(rows(0, 2))
    collector = IcebergCollector(local.config())
    collector.run_cycle()  # first cycle: builds the per-thread catalogs
    del sql_statements[:]
    result = collector.run_cycle()
    assert result.ok and result.tables_seen == 12
    table_queries = [s for s in sql_statements if "iceberg_tables" in s]
    assert len(table_queries) == 1, sql_statements
    assert "metadata_location" in table_queries[0]
    assert len(sql_statements) == 1, sql_statements  # and nothing else per cycle


def test_failed_table_is_retried_even_if_its_location_did_not_change(local, monkeypatch):
    local.create("db.t").append(rows(0, 3))
    collector = IcebergCollector(local.config())
    from exporters.iceberg import catalogs

    original = catalogs.load_at
    fail = {"on": True}

    def flaky(catalog, location):
        if fail["on"]:
            raise OSError("storage hiccup")
        return original(catalog, location)

    monkeypatch.setattr(catalogs, "load_at", flaky)
    collector.run_cycle()
    assert collector.last_attempt_ok[("db", "t")] is False and ("db", "t") not in collector.stats
    fail["on"] = False
    collector.run_cycle()
    assert collector.last_attempt_ok[("db", "t")] is True and collector.stats[("db", "t")].records == 3
    assert collector.tables_unchanged == 0  # it was loaded, not taken from the cache


def test_full_refresh_interval_reloads_unchanged_tables(local, metadata_file_reads):
    local.create("db.t").append(rows(0, 3))
    del metadata_file_reads[:]
    every_cycle = IcebergCollector(local.config(full_refresh_interval=0.0))
    for _ in range(3):
        every_cycle.run_cycle()
    assert len(metadata_file_reads) == 3 and every_cycle.tables_unchanged == 0
    del metadata_file_reads[:]
    never = IcebergCollector(local.config(full_refresh_interval=None))
    for _ in range(3):
        never.run_cycle()
    assert len(metadata_file_reads) == 1 and never.tables_unchanged == 1


def test_fast_renderer_matches_prometheus_client_byte_for_byte():
    from exporters.iceberg.table_stats import TableStats
    from exporters.iceberg.metrics import TableRenderer, build_table_families, render

    stats = [
        TableStats('we"ird', "back\\slash\nnl", 1, 123456789012, 7, 10**12, 0, 3, 4, 1.7e9 + 0.123, 0.0, "summary"),
        TableStats("db", "empty", None, 0, 0, 0, 0, 0, 0, None, 0.0, "empty"),
        TableStats("db", "ünï%cödé", 2, 1, 1, 1, 2, 1, 250, 1234.5, 0.0, "summary"),
    ]
    ok = {("db", "empty"): False}
    renderer = TableRenderer()
    assert renderer.render(stats, ok) == render(build_table_families(stats, ok))
    assert renderer.lines_rendered == 3
    # Unchanged values reuse their lines; a changed one is re-rendered, output still equal.
    changed = [stats[0], stats[1], TableStats("db", "ünï%cödé", 3, 2, 2, 2, 2, 1, 251, 1240.0, 0.0, "summary")]
    assert renderer.render(changed, {}) == render(build_table_families(changed, {}))
    assert renderer.lines_rendered == 5  # "empty" (its ok flag changed) and the changed table
    # Nothing changed: the same bytes, nothing re-rendered.
    body = renderer.render(changed, {})
    assert renderer.render(list(changed), {}) is body and renderer.lines_rendered == 5


def test_age_lines_with_percent_in_labels(local):
    local.create("db.p%d").append(rows(0, 2))
    collector, exposition = make_collector(local)
    collector.run_cycle()
    exposition.publish()
    samples = scrape(exposition)
    assert 0 <= table_value(samples, "iceberg_table_metrics_age_seconds", "db", "p%d") < 60


def test_shard_and_full_refresh_flags():
    cfg = load_config(["--shard", "2/4", "--full-refresh-interval", "30m"], env={})
    assert (cfg.shard_index, cfg.shard_count, cfg.full_refresh_interval) == (2, 4, 1800)
    cfg = load_config([], env={"ICEBERG_EXPORTER_SHARD": "1/3", "ICEBERG_EXPORTER_FULL_REFRESH_INTERVAL": "off"})
    assert (cfg.shard_index, cfg.shard_count, cfg.full_refresh_interval) == (1, 3, None)
    cfg = load_config(["--full-refresh-interval", "0"], env={})
    assert cfg.full_refresh_interval == 0
    default = load_config([], env={})
    assert (default.shard_index, default.shard_count, default.full_refresh_interval) == (0, 1, 3600)
    for bad in ("4/4", "1", "-1/2", "0/0", "a/b", "0/5000"):
        with pytest.raises(ConfigError) as err:
            load_config([f"--shard={bad}"], env={})
        assert err.value.problems[0].startswith("--shard / ICEBERG_EXPORTER_SHARD: "), bad
    with pytest.raises(ConfigError) as err:
        load_config(["--full-refresh-interval", "soon"], env={})
    assert "--full-refresh-interval / ICEBERG_EXPORTER_FULL_REFRESH_INTERVAL" in err.value.problems[0]


def test_age_lines_grouped_and_template_renderings_agree():
    from exporters.iceberg.metrics import AgeLines

    keys = [("db", f"t{i}") for i in range(200)] + [("we%ird", 'q"uote')]
    prefixes = [f'iceberg_table_metrics_age_seconds{{database="{db}",table="{t}"}}' for db, t in keys]
    prefixes[-1] = 'iceberg_table_metrics_age_seconds{database="we%ird",table="q\\"uote"}'
    template = "".join(p.replace("%", "%%") + " %.3f\n" for p in prefixes)
    now = 1_000_000.0
    few = [now - 10.0 if i % 2 else now - 2.5 for i in range(len(keys))]  # 2 distinct times: grouped
    many = [now - i * 0.5 for i in range(len(keys))]  # every time distinct: the template
    for confirmed, grouped in ((few, True), (many, False)):
        lines = AgeLines(prefixes, template, confirmed)
        assert (lines._groups is not None) == grouped
        text = lines.render(now).decode()
        families = list(text_string_to_metric_families(text))
        assert [f.name for f in families] == ["iceberg_table_metrics_age_seconds"]
        got = {(s.labels["database"], s.labels["table"]): s.value for s in families[0].samples}
        assert got == {key: pytest.approx(now - at) for key, at in zip(keys, confirmed)}
    # A confirmation time in the future (clock step) shows 0, not a negative age.
    assert AgeLines(prefixes[:1], template.split("\n")[0] + "\n", [now + 5]).render(now).endswith(b" 0.000\n")
