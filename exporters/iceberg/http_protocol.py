"""HTTP/1.1 pieces of the metrics server that need no socket: parsing a request head,
Accept-Encoding negotiation, and the gzip stream that reuses the unchanged part of a body."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

GZIP_LEVEL = 1  # Prometheus text compresses ~10x even at level 1; higher levels cost CPU per scrape


def accepts_gzip(value: str | None) -> bool:
    """True if an ``Accept-Encoding`` header value allows gzip (``gzip``, ``*``; not ``q=0``)."""
    if not value:
        return False
    star = None
    for item in value.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, val = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)


class PreparedHead(NamedTuple):
    """A body head compressed ahead of time: raw deflate ending in a sync flush, and its CRC-32."""

    deflate: bytes
    crc: int


@dataclass(frozen=True, slots=True)
class SplitBody:
    """A response body in two parts: ``head`` changes once per collection cycle, ``tail``
    per scrape. Served without joining them (one gather write), and gzipped from
    ``prepared`` (the head compressed once, by whoever made the head) plus the tail."""

    head: bytes
    tail: bytes
    prepared: PreparedHead | None = None

    @property
    def size(self) -> int:  # the Content-Length
        return len(self.head) + len(self.tail)

    def join(self) -> bytes:
        return self.head + self.tail


class GzipSplicer:
    """gzip of successive bodies that share a long, unchanging head.

    The head is compressed once as raw deflate ending in a sync flush (byte-aligned,
    not final); each body's tail is compressed by a fresh compressor that finishes the
    stream, and the CRC-32 of the head is continued over the tail. Header + head +
    tail + trailer is one ordinary gzip member (what pigz does to compress in
    parallel). The head is the common prefix of the last two bodies, found again
    whenever the body no longer starts with it (a new cycle was published).
    """

    MIN_HEAD = 16 * 1024  # shorter common prefixes are not worth keeping
    _HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS
    _STEP = 4096
    _CRC_CHUNK = 4096  # zlib.crc32 releases the GIL for buffers over 5 KiB

    def __init__(self, level: int = GZIP_LEVEL):
        self.level = level
        self._head = b""
        self._head_deflate = b""
        self._head_crc = 0
        self._previous = b""
        self._split_head: bytes | None = None
        self._split_prepared = PreparedHead(b"", 0)
        self.head_hits = 0

    def _deflate(self, data: bytes, mode: int) -> bytes:
        c = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(mode)

    def _common_prefix(self, a: bytes, b: bytes) -> int:
        n = min(len(a), len(b))
        lo = 0
        while lo + self._STEP <= n and a[lo : lo + self._STEP] == b[lo : lo + self._STEP]:
            lo += self._STEP
        while lo < n and a[lo] == b[lo]:
            lo += 1
        return lo

    def prepare(self, head: bytes) -> PreparedHead:
        """Compress ``head`` so that any tail can follow it (see :meth:`compress_split`)."""
        return PreparedHead(self._deflate(head, zlib.Z_SYNC_FLUSH), zlib.crc32(head))

    def compress_split(self, body: SplitBody) -> bytes:
        """gzip of ``body.head + body.tail``, compressing only the tail; the head's
        compressed form is ``body.prepared``, or made here once per head object."""
        prepared = body.prepared
        if prepared is None:
            if body.head is not self._split_head:
                self._split_head, self._split_prepared = body.head, self.prepare(body.head)
            prepared = self._split_prepared
        else:
            self.head_hits += 1
        return self._finish(prepared, body.tail, body.size)

    def _finish(self, prepared: PreparedHead, tail: bytes, total: int) -> bytes:
        crc = prepared.crc
        for i in range(0, len(tail), self._CRC_CHUNK):  # small chunks: crc32 keeps the GIL (see below)
            crc = zlib.crc32(tail[i : i + self._CRC_CHUNK], crc)
        trailer = struct.pack("<II", crc, total & 0xFFFFFFFF)
        # One zlib call: each call releases the GIL, and while collection threads are busy
        # getting it back costs up to a switch interval (5 ms) per call.
        tail_deflate = zlib.compress(tail, self.level, -15)
        return b"".join((self._HEADER, prepared.deflate, tail_deflate, trailer))

    def compress(self, body: bytes) -> bytes:
        head = self._head
        if not (head and body.startswith(head)):
            common = self._common_prefix(self._previous, body)
            self._previous = body
            if common < self.MIN_HEAD:
                self._head = b""
                return self._HEADER + self._deflate(body, zlib.Z_FINISH) + struct.pack(
                    "<II", zlib.crc32(body), len(body) & 0xFFFFFFFF
                )
            head = self._head = body[:common]
            self._head_deflate = self._deflate(head, zlib.Z_SYNC_FLUSH)
            self._head_crc = zlib.crc32(head)
        else:
            self.head_hits += 1
        return self._finish(PreparedHead(self._head_deflate, self._head_crc), body[len(head) :], len(body))


class Request:
    __slots__ = ("method", "path", "keep_alive", "gzip", "error")

    def __init__(self, method: str, path: str, keep_alive: bool, gzip_ok: bool, error: int = 0):
        self.method = method
        self.path = path
        self.keep_alive = keep_alive
        self.gzip = gzip_ok
        self.error = error


def parse_request_head(head: bytes) -> Request:
    """Parse a request line and headers (without the final blank line)."""
    try:
        text = head.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        return Request("", "", False, False, 400)
    if not version.startswith("HTTP/1."):
        return Request(method, "", False, False, 505 if version.startswith("HTTP/") else 400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return Request(method, "", False, False, 400)
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    request = Request(method, target.split("?", 1)[0], keep_alive, accepts_gzip(headers.get("accept-encoding")))
    if "transfer-encoding" in headers:
        request.error, request.keep_alive = 400, False  # no request bodies here
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length != 0:
            request.error, request.keep_alive = (413 if length > 0 else 400), False
    return request
