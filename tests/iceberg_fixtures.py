"""Helpers for the Iceberg exporter tests: real pyiceberg catalogs in a tmp dir.

- :class:`LocalCatalog`: a pyiceberg SqlCatalog on SQLite with a local file warehouse.
- :func:`expected_state`: a table's state computed independently of the exporter
  (``table.inspect.files()`` / ``inspect.snapshots()``), to compare exported values with.
- :class:`RestCatalogServer`: a small read-only Iceberg REST catalog on 127.0.0.1
  (config, list namespaces, list tables, load table) serving the tables of a
  LocalCatalog, which a test can stop and start again to make the catalog vanish
  and come back over a real network connection.

No credentials appear here: nothing in these fixtures needs any.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

from exporters.iceberg.config import Config  # noqa: E402

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("payload", pa.string())])


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02):
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(start: int, count: int, payload_bytes: int = 4, seed: int = 0) -> pa.Table:
    """``count`` rows; ``payload_bytes`` of incompressible text each (controls file size)."""
    rnd = os.urandom  # incompressible: parquet's size follows payload_bytes
    payloads = [rnd(payload_bytes // 2 + 1).hex()[:payload_bytes] for _ in range(count)]
    return pa.table({"id": list(range(start, start + count)), "payload": payloads}, schema=SCHEMA)


class LocalCatalog:
    """A SqlCatalog (SQLite) with a file warehouse under ``root``."""

    def __init__(self, root: Path, name: str = "default"):
        self.root = root
        self.name = name
        (root / "warehouse").mkdir(parents=True, exist_ok=True)
        self.uri = f"sqlite:///{root / 'catalog.db'}"
        self.warehouse = (root / "warehouse").as_uri()
        self.catalog = SqlCatalog(name, uri=self.uri, warehouse=self.warehouse)

    def config(self, **overrides) -> Config:
        base = dict(
            catalog_type="sql",
            catalog_uri=self.uri,
            warehouse=self.warehouse,
            catalog_name=self.name,
            listen_address="127.0.0.1",
            port=0,
            interval=60.0,
            small_file_bytes=32 * 1024 * 1024,
            table_timeout=10.0,
            workers=2,
            max_backoff=1.0,
        )
        base.update(overrides)
        return Config(**base)

    def create(self, ident: str):
        ns = ident.rsplit(".", 1)[0]
        if (ns,) not in self.catalog.list_namespaces():
            self.catalog.create_namespace(ns)
        return self.catalog.create_table(ident, schema=SCHEMA)


@dataclass
class Expected:
    size_bytes: int
    data_files: int
    records: int
    delete_files: int
    small_files: int
    snapshots_count: int
    last_update_seconds: float | None


def expected_state(table, small_file_bytes: int) -> Expected:
    """The table's real state, from pyiceberg's inspect tables (not from the summary)."""
    snapshot = table.current_snapshot()
    snapshots = table.inspect.snapshots().num_rows
    if snapshot is None:
        return Expected(0, 0, 0, 0, 0, snapshots, None)
    files = table.inspect.files().to_pylist()
    data = [f for f in files if f["content"] == 0]
    deletes = [f for f in files if f["content"] != 0]
    return Expected(
        size_bytes=sum(f["file_size_in_bytes"] for f in files),
        data_files=len(data),
        records=sum(f["record_count"] for f in data),
        delete_files=len(deletes),
        small_files=sum(1 for f in data if f["file_size_in_bytes"] < small_file_bytes),
        snapshots_count=snapshots,
        last_update_seconds=snapshot.timestamp_ms / 1000.0,
    )


class RestCatalogServer:
    """Read-only Iceberg REST catalog endpoints backed by a LocalCatalog, on 127.0.0.1."""

    def __init__(self, backing: LocalCatalog, port: int | None = None):
        self.backing = backing
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, code: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                cat = server.backing.catalog
                parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
                if parts == ["v1", "config"]:
                    return self._json(200, {"defaults": {}, "overrides": {}})
                if parts == ["v1", "namespaces"]:
                    return self._json(200, {"namespaces": [list(ns) for ns in cat.list_namespaces()]})
                if len(parts) == 4 and parts[:2] == ["v1", "namespaces"] and parts[3] == "tables":
                    idents = cat.list_tables(parts[2])
                    return self._json(
                        200, {"identifiers": [{"namespace": list(i[:-1]), "name": i[-1]} for i in idents]}
                    )
                if len(parts) == 5 and parts[:2] == ["v1", "namespaces"] and parts[3] == "tables":
                    try:
                        table = cat.load_table((parts[2], parts[4]))
                    except Exception as exc:  # noqa: BLE001
                        return self._json(
                            404, {"error": {"message": str(exc), "type": "NoSuchTableException", "code": 404}}
                        )
                    metadata = json.loads(Path(urlsplit(table.metadata_location).path).read_text())
                    return self._json(200, {"metadata-location": table.metadata_location, "metadata": metadata})
                return self._json(404, {"error": {"message": "not found", "type": "NotFound", "code": 404}})

        return Handler

    def start(self) -> None:
        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._httpd = Server(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


# ---- shared by the hive and rest protocol tests


def samples_of(exposition) -> dict:
    """Every sample an Exposition serves, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(exposition.body().decode())
        for s in f.samples
    }


def tv(samples, name, db, tbl):
    """One table's value of a metric."""
    return samples.get((name, (("database", db), ("table", tbl))))


def assert_state(samples, db, tbl, table, small_file_bytes: int):
    """The exporter's values for db.tbl equal the table's real state."""
    exp = expected_state(table, small_file_bytes)
    got = {
        "size_bytes": tv(samples, "iceberg_table_size_bytes", db, tbl),
        "data_files": tv(samples, "iceberg_table_files_count", db, tbl),
        "records": tv(samples, "iceberg_table_records_count", db, tbl),
        "delete_files": tv(samples, "iceberg_table_delete_files_count", db, tbl),
        "small_files": tv(samples, "iceberg_table_small_files_count", db, tbl),
        "snapshots_count": tv(samples, "iceberg_table_snapshots_count", db, tbl),
        "last_update_seconds": tv(samples, "iceberg_table_last_update_timestamp", db, tbl),
    }
    want = {k: (float(v) if v is not None else None) for k, v in vars(exp).items()}
    assert got == pytest.approx(want), f"{db}.{tbl}"


def build_tables(local: LocalCatalog) -> None:
    """Three tables: appends, an empty one, overwrite + delete (the shapes the hive/rest tests read)."""
    orders = local.create("sales.orders")
    orders.append(rows(0, 10))
    orders.append(rows(10, 2000, payload_bytes=100))
    local.create("sales.empty")
    events = local.create("ops.events")
    events.append(rows(0, 50))
    events.overwrite(rows(0, 30))
    events.delete("id < 10")
