"""A small Iceberg REST catalog on 127.0.0.1 with ETags, for the Iceberg exporter tests.

Endpoints of the Iceberg REST catalog spec (``GET`` only): ``/v1/config``,
``/v1/namespaces``, ``/v1/namespaces/{ns}/tables`` and
``/v1/namespaces/{ns}/tables/{table}`` (loadTable), answered from a real pyiceberg SQL
catalog (a :class:`LocalCatalog`) whose metadata files pyiceberg wrote.

loadTable sends an ``ETag`` derived from the table's metadata location (a commit makes a
new metadata file, so a new ETag) and answers ``If-None-Match`` with that ETag with
``304 Not Modified`` and no body, as the spec allows. ``etags=False`` makes a server
that sends no ETag (clients must then load in full every time). Every request is
recorded as (path, status) in :attr:`FakeRestCatalog.requests`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from iceberg_fixtures import LocalCatalog, RestCatalogServer  # noqa: I001

NAMESPACE_SEPARATOR = "\x1f"  # the spec's separator of nested namespace levels in a path


def etag_of(metadata_location: str) -> str:
    return '"' + hashlib.sha1(metadata_location.encode()).hexdigest() + '"'


class FakeRestCatalog(RestCatalogServer):
    """RestCatalogServer's loopback server with ETags on loadTable (and a log of statuses)."""

    def __init__(self, backing: LocalCatalog, port: int | None = None, etags: bool = True):
        super().__init__(backing, port)
        self.etags = etags
        self.requests: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def load_statuses(self) -> list[int]:
        """Statuses of the loadTable requests so far."""
        with self._lock:
            return [status for path, status in self.requests if path.count("/") == 5 and "/tables/" in path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so stop() really cuts every client off.
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: dict | None, headers: dict[str, str] | None = None) -> None:
                with server._lock:
                    server.requests.append((urlsplit(self.path).path, code))
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, code: int, kind: str, message: str) -> None:
                self._send(code, {"error": {"message": message, "type": kind, "code": code}})

            def do_GET(self) -> None:  # noqa: N802
                cat = server.backing.catalog
                parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
                if parts == ["v1", "config"]:
                    return self._send(200, {"defaults": {}, "overrides": {}})
                if parts == ["v1", "namespaces"]:
                    return self._send(200, {"namespaces": [list(ns) for ns in cat.list_namespaces()]})
                if len(parts) >= 4 and parts[:2] == ["v1", "namespaces"] and parts[3] == "tables":
                    namespace = tuple(parts[2].split(NAMESPACE_SEPARATOR))
                    if not cat.namespace_exists(namespace):
                        return self._error(404, "NoSuchNamespaceException", f"no namespace {parts[2]}")
                    if len(parts) == 4:
                        idents = cat.list_tables(namespace)
                        return self._send(
                            200, {"identifiers": [{"namespace": list(i[:-1]), "name": i[-1]} for i in idents]}
                        )
                    if len(parts) == 5:
                        return self._load_table(namespace, parts[4])
                return self._error(404, "NotFound", "not found")

            def _load_table(self, namespace: tuple[str, ...], name: str) -> None:
                from pyiceberg.exceptions import NoSuchTableError

                try:
                    table = server.backing.catalog.load_table((*namespace, name))
                except NoSuchTableError as exc:
                    return self._error(404, "NoSuchTableException", str(exc))
                location = table.metadata_location
                headers = {}
                if server.etags:
                    etag = etag_of(location)
                    headers["ETag"] = etag
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, None, headers)
                metadata = json.loads(Path(urlsplit(location).path).read_text())
                return self._send(200, {"metadata-location": location, "metadata": metadata}, headers)

        return Handler

    def __enter__(self) -> "FakeRestCatalog":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
