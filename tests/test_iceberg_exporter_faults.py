"""Iceberg exporter under faults: catalog down/up, broken and slow tables, HTTP, SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures, also if tests/ becomes a package

from iceberg_fixtures import REPO_ROOT, LocalCatalog, RestCatalogServer, expected_state, free_port, rows, wait_for  # noqa: I001

from exporters.iceberg.app import Exporter, backoff_delay
from exporters.iceberg.collector import IcebergCollector
from exporters.iceberg.config import Config


def fetch(port: int, path: str = "/metrics") -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def tv(samples, name, db, tbl):
    return samples.get((name, (("database", db), ("table", tbl))))


@pytest.fixture
def local(tmp_path):
    return LocalCatalog(tmp_path / "cat")


@pytest.fixture
def exporters_started():
    started: list[Exporter] = []
    yield started
    for exp in started:
        exp.stop()


def test_backoff_is_exponential_and_capped():
    assert [backoff_delay(n, 300, 60) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10, interval=5, max_backoff=60) == 5


def test_sql_catalog_unreadable_at_start_then_reachable_over_http(tmp_path, exporters_started):
    """Starts and serves with the catalog down (up 0), then sees it come up (up 1)."""
    root = tmp_path / "later"  # does not exist yet: SQLite cannot open the catalog
    cfg = Config(
        catalog_type="sql",
        catalog_uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=(root / "warehouse").as_uri(),
        listen_address="127.0.0.1",
        port=free_port(),
        interval=0.3,
        max_backoff=0.3,
        table_timeout=5,
        workers=2,
    )
    exp = Exporter(cfg)
    exporters_started.append(exp)
    exp.start()
    assert exp.wait_cycles(2, timeout=10)
    samples = fetch(cfg.port)
    assert samples[("iceberg_exporter_up", ())] == 0
    assert samples[("iceberg_exporter_errors_total", (("kind", "catalog"),))] >= 2
    assert not any(name.startswith("iceberg_table_") for name, _ in samples)

    local = LocalCatalog(root)
    t = local.create("db.t")
    t.append(rows(0, 7))
    # A cycle may see the table between its creation and the append (0 records): wait for 7.
    samples = wait_for(
        lambda: (s := fetch(cfg.port)) and s[("iceberg_exporter_up", ())] == 1 and tv(s, "iceberg_table_records_count", "db", "t") == 7 and s,
        timeout=10,
    )
    assert samples[("iceberg_exporter_last_success_timestamp_seconds", ())] > time.time() - 30
    assert samples[("iceberg_exporter_cycle_duration_seconds_count", ())] >= 3


def test_hive_metastore_closed_port_counts_catalog_error():
    cfg = Config(catalog_type="hive", catalog_uri=f"thrift://127.0.0.1:{free_port()}", table_timeout=5, workers=1)
    collector = IcebergCollector(cfg)
    try:
        result = collector.run_cycle()
        assert not result.ok
        assert collector.up == 0 and collector.errors["catalog"] == 1
    finally:
        collector.close()


def test_rest_catalog_down_at_start_goes_away_mid_run_and_comes_back(local):
    t = local.create("db.t")
    t.append(rows(0, 5))
    server = RestCatalogServer(local)  # not started: connection refused
    cfg = Config(catalog_type="rest", catalog_uri=server.uri, table_timeout=5, workers=2)
    collector = IcebergCollector(cfg)
    try:
        assert not collector.run_cycle().ok and collector.up == 0

        server.start()
        assert collector.run_cycle().ok and collector.up == 1
        first = collector.stats[("db", "t")]
        assert first.records == 5

        server.stop()  # the catalog goes away mid-run
        time.sleep(0.05)
        assert not collector.run_cycle().ok and collector.up == 0
        assert collector.stats[("db", "t")] == first  # last good values kept
        assert collector.errors["catalog"] == 2

        local.catalog.load_table("db.t").append(rows(5, 5))
        server.start()
        assert collector.run_cycle().ok and collector.up == 1
        assert collector.stats[("db", "t")].records == 10
        assert collector.stats[("db", "t")].collected_at > first.collected_at
    finally:
        server.stop()
        collector.close()


def test_table_with_deleted_metadata_is_skipped_and_counted(local):
    for name in ("a", "b", "c"):
        local.create(f"db.{name}").append(rows(0, 4))
    # Every table is re-read each cycle (no change detection shortcut): the deleted file is noticed.
    cfg = local.config(full_refresh_interval=0)
    collector = IcebergCollector(cfg)
    from exporters.iceberg.metrics import Exposition

    exposition = Exposition(collector)
    try:
        assert collector.run_cycle().ok
        before = collector.stats[("db", "b")]

        broken = local.catalog.load_table("db.b")
        os.remove(urlsplit(broken.metadata_location).path)
        local.catalog.load_table("db.a").append(rows(10, 6))

        result = collector.run_cycle()
        assert result.ok and result.tables_seen == 3 and result.tables_failed == 1
        assert collector.errors["io"] == 1
        exposition.publish()
        text = exposition.body().decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }
        # The others are still exported, with fresh values.
        assert tv(samples, "iceberg_table_records_count", "db", "a") == 10
        assert tv(samples, "iceberg_table_records_count", "db", "c") == 4
        assert tv(samples, "iceberg_table_collection_ok", "db", "a") == 1
        # The broken one keeps its last good values, flagged and aging.
        assert tv(samples, "iceberg_table_records_count", "db", "b") == before.records
        assert tv(samples, "iceberg_table_collection_ok", "db", "b") == 0
        assert samples[("iceberg_exporter_tables_failed", ())] == 1
        assert samples[("iceberg_exporter_errors_total", (("kind", "io"),))] == 1
        time.sleep(0.2)
        later = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(exposition.body().decode())
            for s in f.samples
        }
        assert tv(later, "iceberg_table_metrics_age_seconds", "db", "b") >= 0.2
    finally:
        collector.close()


def test_slow_table_hits_time_limit_others_exported(local, monkeypatch):
    for name in ("fast1", "slow", "fast2"):
        local.create(f"db.{name}").append(rows(0, 3))
    cfg = local.config(table_timeout=0.5, workers=2)
    collector = IcebergCollector(cfg)
    original = collector.collect_table

    def maybe_slow(db, tbl):
        if tbl == "slow":
            time.sleep(3)
        return original(db, tbl)

    monkeypatch.setattr(collector, "collect_table", maybe_slow)
    try:
        start = time.monotonic()
        result = collector.run_cycle()
        elapsed = time.monotonic() - start
        assert result.ok
        assert elapsed < 2.0, elapsed  # bounded by the limit, not by the 3 s sleep
        assert collector.errors["timeout"] == 1
        assert set(collector.stats) == {("db", "fast1"), ("db", "fast2")}
        assert collector.last_attempt_ok[("db", "slow")] is False
        # The next cycle is not blocked by the stuck worker either.
        start = time.monotonic()
        assert collector.run_cycle().ok
        assert time.monotonic() - start < 2.0
        assert collector.errors["timeout"] == 2
    finally:
        collector.close()


def test_empty_catalog_and_vanishing_namespace(local):
    cfg = local.config(namespaces=("nope",))
    collector = IcebergCollector(cfg)
    try:
        result = collector.run_cycle()
        assert result.ok and result.tables_seen == 0
        assert collector.errors["not_found"] == 1
    finally:
        collector.close()


def test_sigterm_stops_real_process_cleanly(tmp_path, local):
    local.create("db.t").append(rows(0, 3))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ICEBERG_EXPORTER_CATALOG_URI": local.uri,
        "ICEBERG_EXPORTER_WAREHOUSE": local.warehouse,
        "ICEBERG_EXPORTER_PORT": str(port),
        "ICEBERG_EXPORTER_LISTEN_ADDRESS": "127.0.0.1",
        "ICEBERG_EXPORTER_INTERVAL": "1s",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporters.iceberg"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ready():
            try:
                s = fetch(port)
            except OSError:
                return None
            return s if tv(s, "iceberg_table_records_count", "db", "t") == 3 else None

        samples = wait_for(ready, timeout=20, step=0.1)
        assert samples[("iceberg_exporter_up", ())] == 1
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
        assert time.monotonic() - start < 5
        assert "received SIGTERM" in stderr
        with pytest.raises(OSError):
            fetch(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def test_values_served_match_table_after_changes(local, exporters_started):
    """End to end over HTTP: after a new snapshot the next cycle's values are served."""
    t = local.create("db.t")
    t.append(rows(0, 10))
    cfg = local.config(port=free_port(), interval=0.2, small_file_bytes=50_000)
    exp = Exporter(cfg)
    exporters_started.append(exp)
    exp.start()
    assert exp.wait_cycles(1, timeout=10)
    local.catalog.load_table("db.t").append(rows(10, 2000, payload_bytes=100))
    want = expected_state(local.catalog.load_table("db.t"), 50_000)
    samples = wait_for(
        lambda: (s := fetch(cfg.port)) and tv(s, "iceberg_table_files_count", "db", "t") == 2 and s, timeout=10
    )
    assert tv(samples, "iceberg_table_size_bytes", "db", "t") == want.size_bytes
    assert tv(samples, "iceberg_table_small_files_count", "db", "t") == want.small_files == 1
    assert tv(samples, "iceberg_table_records_count", "db", "t") == want.records == 2010


# -- the SQLite catalog file lost, unreadable or replaced ------------------------


def _cycle_state(collector):
    result = collector.run_cycle()
    return result.ok, collector.up, dict(collector.errors)


def test_sqlite_catalog_file_deleted_is_noticed_within_one_cycle_and_recovered(local):
    """Pooled SQLite connections keep reading a deleted file: the old code stayed up 1."""
    local.create("db.t").append(rows(0, 5))
    db = local.root / "catalog.db"
    collector = IcebergCollector(local.config())
    try:
        assert collector.run_cycle().ok and collector.up == 1
        os.rename(db, local.root / "elsewhere.db")  # the catalog file is gone

        ok, up, errors = _cycle_state(collector)
        assert (ok, up) == (False, 0)
        assert errors["catalog"] == 1 and errors["other"] == 0
        assert not db.exists()  # and nothing recreated it
        assert collector.stats[("db", "t")].records == 5  # last good values kept

        os.rename(local.root / "elsewhere.db", db)  # back, without a restart
        ok, up, _ = _cycle_state(collector)
        assert (ok, up) == (True, 1)
        assert collector.stats[("db", "t")].records == 5
    finally:
        collector.close()


def test_sqlite_catalog_file_replaced_by_another_file(local, tmp_path):
    """A replaced file is read through new connections, not the pooled ones on the old inode."""
    local.create("db.old").append(rows(0, 3))
    other = LocalCatalog(tmp_path / "other")  # its tables point into its own warehouse
    other.create("db.new").append(rows(0, 8))
    other.catalog.engine.dispose()
    db = local.root / "catalog.db"
    saved = local.root / "saved.db"
    collector = IcebergCollector(local.config())
    try:
        assert collector.run_cycle().ok and set(collector.stats) == {("db", "old")}

        os.rename(db, saved)
        shutil.copyfile(tmp_path / "other" / "catalog.db", db)  # another catalog in its place
        assert collector.run_cycle().ok
        assert set(collector.stats) == {("db", "new")} and collector.stats[("db", "new")].records == 8

        db.write_bytes(b"this is not a SQLite database\n" * 100)  # replaced by garbage (same inode)
        ok, up, errors = _cycle_state(collector)
        assert (ok, up) == (False, 0) and errors["catalog"] == 1

        os.replace(saved, db)  # the original is back
        ok, up, _ = _cycle_state(collector)
        assert (ok, up) == (True, 1) and set(collector.stats) == {("db", "old")}
    finally:
        collector.close()


def _run_forked(fn, timeout: float = 60.0):
    """Run ``fn()`` in a forked child (as uid/gid 65534 when we are root); return its JSON result."""
    import json as _json

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(rfd)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            payload = _json.dumps({"ok": fn()})
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            payload = _json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        finally:
            try:
                os.write(wfd, payload.encode())
            finally:
                os._exit(code)
    os.close(wfd)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("forked child timed out")
        time.sleep(0.05)
    with os.fdopen(rfd, "rb") as r:
        result = json.loads(r.read().decode() or "{}")
    assert "ok" in result, result
    return result["ok"]


def test_sqlite_catalog_file_made_unreadable_is_noticed_and_recovered():
    """chmod 000 on the catalog: noticed in the next cycle, recovered after chmod 644.

    Root reads a mode-000 file anyway, so under root the collector runs in a forked
    child as uid/gid 65534, which owns the catalog (to chmod it itself).
    """
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="iceberg-unreadable-"))
    try:
        local = LocalCatalog(root / "cat")
        local.create("db.t").append(rows(0, 4))
        local.catalog.engine.dispose()
        db = root / "cat" / "catalog.db"
        warm = IcebergCollector(local.config())  # imports everything the child will need
        try:
            assert warm.run_cycle().ok
        finally:
            warm.close()
        if os.geteuid() == 0:
            os.chmod(root, 0o755)
            for dirpath, dirnames, filenames in os.walk(root):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    os.chown(name, 65534, 65534)

        def child():
            collector = IcebergCollector(local.config())
            out = []

            def step():
                result = collector.run_cycle()
                out.append([result.ok, collector.up, collector.errors["catalog"], sorted(collector.stats)])

            step()
            os.chmod(db, 0)
            assert not os.access(db, os.R_OK)
            step()
            os.chmod(db, 0o644)
            step()
            return out

        steps = _run_forked(child)
        assert steps[0] == [True, 1, 0, [["db", "t"]]]
        assert steps[1][:3] == [False, 0, 1]  # unreadable: up 0, one catalog error
        assert steps[2] == [True, 1, 1, [["db", "t"]]]  # readable again: recovered
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_missing_sqlite_catalog_file_is_an_error_not_created(tmp_path):
    """sqlite:///path whose file is missing: the old code created an empty file there."""
    db = tmp_path / "catalog.db"  # the directory exists, the file does not
    cfg = Config(
        catalog_type="sql",
        catalog_uri=f"sqlite:///{db}",
        warehouse=(tmp_path / "warehouse").as_uri(),
        table_timeout=10,
        workers=2,
    )
    collector = IcebergCollector(cfg)
    try:
        for _ in range(2):
            ok, up, errors = _cycle_state(collector)
            assert (ok, up) == (False, 0)
            assert not db.exists(), "the exporter created a catalog file"
        assert errors["catalog"] == 2

        LocalCatalog(tmp_path).create("db.t").append(rows(0, 2))  # the real catalog appears
        assert collector.run_cycle().ok and collector.up == 1
        assert collector.stats[("db", "t")].records == 2
    finally:
        collector.close()


def test_local_default_catalog_is_created_at_start_only(tmp_path, monkeypatch):
    from exporters.iceberg.app import _prepare_local_default
    from exporters.iceberg.config import load_config

    monkeypatch.chdir(tmp_path)
    cfg = load_config([], env={})
    assert cfg.local_default
    db = tmp_path / "iceberg-local" / "catalog.db"
    _prepare_local_default(cfg)
    assert db.is_file()
    collector = IcebergCollector(cfg)
    try:
        result = collector.run_cycle()
        assert result.ok and result.tables_seen == 0
        db.unlink()  # deleted while running: reported, not silently recreated empty
        ok, up, errors = _cycle_state(collector)
        assert (ok, up, errors["catalog"]) == (False, 0, 1)
        assert not db.exists()
    finally:
        collector.close()


def _point_table_at(local, table: str, metadata_path: Path) -> None:
    """Commit-like: the catalog row of db.<table> now names ``metadata_path``."""
    import sqlite3

    con = sqlite3.connect(local.root / "catalog.db")
    with con:
        con.execute(
            "UPDATE iceberg_tables SET previous_metadata_location = metadata_location, metadata_location = ? "
            "WHERE table_namespace = 'db' AND table_name = ?",
            (metadata_path.as_uri(), table),
        )
    con.close()


def test_corrupt_metadata_json_is_counted_as_invalid_metadata(local):
    """A commit whose new metadata file is corrupt: the old code counted it as kind 'other'."""
    for name in ("a", "b"):
        local.create(f"db.{name}").append(rows(0, 4))
    collector = IcebergCollector(local.config())
    try:
        assert collector.run_cycle().ok
        good = Path(urlsplit(local.catalog.load_table("db.b").metadata_location).path)
        truncated = good.with_name("00099-truncated.metadata.json")
        truncated.write_text(good.read_text()[:40])  # truncated JSON
        _point_table_at(local, "b", truncated)
        result = collector.run_cycle()
        assert result.ok and result.tables_failed == 1
        assert result.errors == {"invalid_metadata": 1}
        invalid = good.with_name("00100-invalid.metadata.json")
        invalid.write_text(json.dumps({"format-version": 2}))  # valid JSON, not valid metadata
        _point_table_at(local, "b", invalid)
        result = collector.run_cycle()
        assert result.errors == {"invalid_metadata": 1}
        assert collector.errors["invalid_metadata"] == 2 and collector.errors["other"] == 0
        assert collector.last_attempt_ok[("db", "a")] is True
    finally:
        collector.close()


def test_error_kinds_match_the_metrics_catalog():
    """Every kind the code can count is the one the catalog's help text documents."""
    import yaml

    from exporters.iceberg.collector import ERROR_KINDS

    entries = yaml.safe_load((REPO_ROOT / "docs/metrics/iceberg-exporter.yaml").read_text())
    (errors,) = [e for e in entries if e["name"] == "iceberg_exporter_errors_total"]
    documented = errors["help"].split(":", 1)[1].strip().rstrip(".").split(", ")
    assert documented == list(ERROR_KINDS)
