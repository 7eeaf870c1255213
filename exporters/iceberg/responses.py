"""What the metrics server answers, without sockets: status line, headers and body buffers.

``server.py`` owns the sockets and the loop; this module decides each answer. All the
requests complete when the loop wakes up form one :class:`Batch`: ``/metrics`` is
rendered once for all of them (and gzip-compressed once if any asked for it), so every
answer is rendered after its request arrived and 20 concurrent scrapes cost one render.
"""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from typing import Callable, Optional

from exporters.iceberg.http_protocol import GzipSplicer, SplitBody, Request
from exporters.iceberg.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
INDEX = b"""<html><head><title>Iceberg exporter</title></head>
<body><h1>Iceberg table metrics exporter</h1><p><a href="/metrics">/metrics</a></p></body></html>
"""
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

BodyFn = Callable[[], "bytes | SplitBody"]
HealthFn = Callable[[], "tuple[bool, str]"]


class Responder:
    """Builds responses from ``body()`` (the /metrics body) and ``health()`` (/healthz)."""

    def __init__(self, body: BodyFn, health: Optional[HealthFn], idle_timeout: float):
        self._body = body
        self._health = health
        self.idle_timeout = idle_timeout
        self.gzip = GzipSplicer()
        self._date = ("", 0)
        self.renders = 0  # /metrics bodies rendered, for tests and the benchmark

    def batch(self) -> "Batch":
        return Batch(self)

    def simple(self, code: int, payload: bytes) -> tuple[bytes, bytes]:
        """A plain-text answer after which the connection closes (503 at the bound, 408)."""
        return self.head(code, TEXT, len(payload), keep=False, gzipped=False), payload

    def render(self) -> "bytes | SplitBody | None":
        try:
            body = self._body()
        except Exception:  # noqa: BLE001 - a scrape must get an answer
            log.exception("rendering /metrics failed")
            return None
        self.renders += 1
        return body

    def check_health(self) -> tuple[bool, str]:
        if self._health is None:
            return True, "ok"
        try:
            return self._health()
        except Exception as exc:  # noqa: BLE001
            log.exception("health check failed")
            return False, f"health check failed: {type(exc).__name__}"

    def head(self, code: int, ctype: str, length: int, keep: bool, gzipped: bool, vary: bool = False) -> bytes:
        now = int(time.time())
        if self._date[1] != now:
            self._date = (formatdate(now, usegmt=True), now)
        lines = [
            f"HTTP/1.1 {code} {REASONS[code]}",
            "Server: iceberg-exporter",
            f"Date: {self._date[0]}",
            f"Content-Type: {ctype}",
            f"Content-Length: {length}",
        ]
        if gzipped:
            lines.append("Content-Encoding: gzip")
        if vary:
            lines.append("Vary: Accept-Encoding")
        if keep:
            lines.append(f"Keep-Alive: timeout={int(self.idle_timeout)}")
        else:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Batch:
    """The answers of one loop wake-up: /metrics and /healthz computed at most once."""

    def __init__(self, responder: Responder):
        self._r = responder
        self._rendered: bytes | SplitBody | None = None
        self._render_failed = False
        self._compressed: bytes | None = None
        self._health: tuple[bool, str] | None = None

    def _metrics(self, gzip: bool) -> tuple[int, str, "bytes | SplitBody", bool]:
        if self._rendered is None and not self._render_failed:
            self._rendered = self._r.render()
            self._render_failed = self._rendered is None
        rendered = self._rendered
        if rendered is None:
            return 500, TEXT, b"internal error\n", False
        if not gzip:
            return 200, CONTENT_TYPE, rendered, False
        if self._compressed is None:
            gz = self._r.gzip
            self._compressed = gz.compress_split(rendered) if isinstance(rendered, SplitBody) else gz.compress(rendered)
        return 200, CONTENT_TYPE, self._compressed, True

    def response(self, req: Request, keep: bool) -> tuple[bytes, ...]:
        """The buffers of the answer to ``req``: the head, then the body's parts, shared and
        never copied (the server sends them in one gather write)."""
        head_only = req.method == "HEAD"
        gzipped = False
        if req.error:
            code, ctype, payload = req.error, TEXT, f"{REASONS[req.error].lower()}\n".encode()
            head_only = False
        elif req.method not in ("GET", "HEAD"):
            code, ctype, payload = 405, TEXT, b"method not allowed\n"
            head_only = False
        elif req.path == "/metrics":
            code, ctype, payload, gzipped = self._metrics(req.gzip)
        elif req.path == "/healthz":
            if self._health is None:
                self._health = self._r.check_health()
            ok, reason = self._health
            code, ctype, payload = (200 if ok else 503), TEXT, f"{reason}\n".encode()
        elif req.path == "/":
            code, ctype, payload = 200, "text/html; charset=utf-8", INDEX
        else:
            code, ctype, payload = 404, TEXT, b"not found\n"
        size = payload.size if isinstance(payload, SplitBody) else len(payload)
        head = self._r.head(code, ctype, size, keep, gzipped, req.path == "/metrics")
        if head_only:
            return (head,)
        parts = (payload.head, payload.tail) if isinstance(payload, SplitBody) else (payload,)
        return (head, *(part for part in parts if part))
