"""HTTP server for /metrics (standard library, one thread per request)."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from exporters.iceberg.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

_INDEX = b"""<html><head><title>Iceberg exporter</title></head>
<body><h1>Iceberg table metrics exporter</h1><p><a href="/metrics">/metrics</a></p></body></html>
"""


class MetricsServer:
    def __init__(self, address: str, port: int, body: Callable[[], bytes]):
        body_fn = body

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "iceberg-exporter"

            def _send(self, code: int, payload: bytes, content_type: str, head: bool = False) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if not head:
                    self.wfile.write(payload)

            def _route(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    try:
                        payload = body_fn()
                    except Exception:  # noqa: BLE001 - a scrape must get an answer
                        log.exception("rendering /metrics failed")
                        self._send(500, b"internal error\n", "text/plain; charset=utf-8", head)
                        return
                    self._send(200, payload, CONTENT_TYPE, head)
                elif path == "/healthz":
                    self._send(200, b"ok\n", "text/plain; charset=utf-8", head)
                elif path == "/":
                    self._send(200, _INDEX, "text/html; charset=utf-8", head)
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8", head)

            def do_GET(self) -> None:  # noqa: N802
                self._route(head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._route(head=True)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug("%s " + format, self.address_string(), *args)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        if ":" in address and not address.startswith("["):
            import socket

            Server.address_family = socket.AF_INET6
        self._httpd = Server((address.strip("[]"), port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
