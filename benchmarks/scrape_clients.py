"""Scrape clients for the exporter benchmarks: raw sockets, keep-alive, one thread.

Latency is from the first byte of the request sent to the last byte of the response
read. Shared by bench_iceberg.py and bench_iceberg_server.py.
"""

from __future__ import annotations

import gzip
import selectors
import socket
import time

REQUEST_TIMEOUT = 10.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def request_bytes(path: str = "/metrics", gzip_ok: bool = True) -> bytes:
    extra = "Accept-Encoding: gzip\r\n" if gzip_ok else ""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n{extra}\r\n".encode()


class Response:
    """Incremental parser of one HTTP/1.1 response with Content-Length."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.code = 0
        self.length = -1
        self.body_start = -1
        self.headers: dict[str, str] = {}

    def feed(self, data: bytes) -> bool:
        """Add bytes; True when the response is complete."""
        self.buf += data
        if self.body_start < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            self.code = int(lines[0].split(" ")[1])
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.length = int(self.headers.get("content-length", "0"))
            self.body_start = end + 4
        return len(self.buf) - self.body_start >= self.length

    @property
    def body(self) -> bytes:
        raw = bytes(self.buf[self.body_start : self.body_start + self.length])
        return gzip.decompress(raw) if self.headers.get("content-encoding") == "gzip" else raw


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get(sock: socket.socket, req: bytes) -> tuple[float, Response]:
    """One request on a blocking keep-alive socket: (seconds, response)."""
    resp = Response()
    start = time.perf_counter()
    sock.sendall(req)
    while True:
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed by the server")
        if resp.feed(data):
            return time.perf_counter() - start, resp


def scrape_text(port: int) -> str:
    with connect(port) as s:
        _, resp = get(s, request_bytes(gzip_ok=True))
    return resp.body.decode()


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.rsplit(" ", 1)[1])
    return None


def sequential(port: int, n: int, gzip_ok: bool) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    req = request_bytes(gzip_ok=gzip_ok)
    sock = connect(port)
    try:
        for _ in range(n):
            try:
                seconds, resp = get(sock, req)
            except OSError:
                errors += 1
                sock.close()
                sock = connect(port)
                continue
            if resp.code != 200:
                errors += 1
            latencies.append(seconds)
    finally:
        sock.close()
    return latencies, errors


def concurrent(port: int, clients: int, total: int, gzip_ok: bool = True) -> tuple[list[float], int, float]:
    """``clients`` keep-alive connections in one selector loop, closed loop: each sends its
    next GET as soon as its answer is complete, ``total`` GETs in all. One thread, so the
    client's own overhead stays small (threads would wait for this process's GIL).
    Returns (latencies in seconds, errors, wall seconds); ``concurrent.last_length`` is the
    Content-Length of the last answer."""
    sel = selectors.DefaultSelector()
    req = request_bytes(gzip_ok=gzip_ok)
    latencies: list[float] = []
    errors = 0
    sent = 0
    state: dict[socket.socket, tuple[float, Response]] = {}

    def send(sock: socket.socket) -> None:
        nonlocal sent
        sent += 1
        state[sock] = (time.perf_counter(), Response())
        sock.sendall(req)  # ~90 bytes: always fits the send buffer

    def reopen(sock: socket.socket) -> None:
        sel.unregister(sock)
        sock.close()
        state.pop(sock, None)
        if sent < total:
            new = connect(port)
            new.setblocking(False)
            sel.register(new, selectors.EVENT_READ)
            send(new)

    wall = time.perf_counter()
    for _ in range(min(clients, total)):
        sock = connect(port)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        send(sock)
    while state:
        events = sel.select(REQUEST_TIMEOUT)
        if not events:  # nothing answered for REQUEST_TIMEOUT: count what is pending as errors
            errors += len(state)
            for sock in list(state):
                reopen(sock)
            continue
        for key, _ in events:
            sock = key.fileobj
            start, resp = state[sock]
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                errors += 1
                reopen(sock)
                continue
            if not resp.feed(data):
                continue
            latencies.append(time.perf_counter() - start)
            concurrent.last_length = resp.length
            if resp.code != 200 or (resp.headers.get("content-encoding") == "gzip") != gzip_ok:
                errors += 1
            if sent < total:
                send(sock)
            else:
                del state[sock]
                sel.unregister(sock)
                sock.close()
    sel.close()
    return latencies, errors, time.perf_counter() - wall


concurrent.last_length = -1
