"""HTTP server for /metrics and /healthz: one thread, a selector loop, bounded connections.

One thread owns every socket. It accepts, reads requests, renders and writes
responses without blocking (``selectors``: epoll on Linux), so idle keep-alive
connections cost a file descriptor and a few hundred bytes, never a thread: 1,000
idle clients are 1,000 sockets and the same single thread.

- **One write per response.** Status line and headers, and the body, go out in one
  ``sendmsg`` (a gather write; ``TCP_NODELAY`` set), so a keep-alive scrape does not
  wait for Nagle/delayed-ACK (~40 ms) between a header write and a body write. The
  body is not copied per connection: 20 clients of a 6 MiB body share one buffer.
- **One render per batch.** All requests that are complete when the loop wakes
  up are parsed first, then answered as one batch (``responses.py``, which decides
  every answer): ``/metrics`` is rendered once for all of them (and gzip-compressed
  once if any asked for it). Every response is rendered after its request arrived,
  and 20 concurrent scrapes cost one render, not twenty.
- **gzip** when the request's ``Accept-Encoding`` allows it (Prometheus sends
  ``gzip``); ``Vary: Accept-Encoding``. Between two collection cycles the body's
  long head (the table families) does not change, only its tail (ages,
  self-metrics): the head stays compressed (``GzipSplicer``; compressed by the
  collecting process when the body comes as a ``SplitBody``) and only the tail is
  compressed per scrape, into one standard gzip member.
- **Listen backlog** ``BACKLOG`` (1024; the kernel caps it at ``net.core.somaxconn``).
- **Timeouts.** A keep-alive connection idle for ``idle_timeout`` seconds is closed;
  a request whose headers are not complete within ``request_timeout`` seconds of
  its first byte gets ``408`` and is closed (slow or stuck clients); a response
  the client does not read for ``write_timeout`` seconds is dropped.
- **Connection bound.** At most ``max_connections`` connections are open (and
  never more than the file-descriptor limit allows). When a new connection
  arrives at the bound, the connection idle the longest (no request in progress)
  is closed to make room: an HTTP/1.1 server may close an idle keep-alive
  connection at any time, and the client reconnects. If every open connection has
  a request in progress, the new connection gets an immediate ``503`` with
  ``Connection: close``. Nothing else queues except the kernel's listen backlog.
- ``/healthz`` answers 200 ``ok`` or, when ``health()`` reports a problem, 503 with
  the reason (the exporter reports a wedged or dead collector this way).

``body()`` and ``health()`` run on the loop thread: they must be quick and must
not block (the exposition serves pre-rendered bytes and never touches the catalog).
The exporter runs this loop in a process of its own (``serving.py``) so that it
never waits for the collector's threads; ``add_reader`` lets that process feed
new snapshots through the same loop.
"""

from __future__ import annotations

import collections
import errno
import logging
import resource
import selectors
import socket
import threading
import time
from typing import Callable

from exporters.iceberg.connection import Connection
from exporters.iceberg.http_protocol import Request
from exporters.iceberg.responses import BodyFn, HealthFn, Responder

log = logging.getLogger(__name__)

BACKLOG = 1024
MAX_CONNECTIONS = 1024
IDLE_TIMEOUT = 120.0  # > the usual 30-60 s scrape interval, so Prometheus keeps its connection
REQUEST_TIMEOUT = 10.0
WRITE_TIMEOUT = 30.0
RECV_SIZE = 65536
FD_RESERVE = 64  # descriptors kept free for the catalog client, files, logging
LINGER_SECONDS = 2.0  # after a Connection: close response, read and discard for this long

class _Reader:
    """Another socket served by the loop: ``callback()`` runs when it is readable."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]):
        self.callback = callback


class MetricsServer:
    def __init__(
        self,
        address: str,
        port: int,
        body: BodyFn,
        health: HealthFn | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        backlog: int = BACKLOG,
    ):
        self.responder = Responder(body, health, idle_timeout)
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.write_timeout = write_timeout
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        fd_room = max(1, soft - FD_RESERVE) if soft != resource.RLIM_INFINITY else max_connections
        self.max_connections = max(1, min(max_connections, fd_room))
        host = address.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # "::" also accepts IPv4 (as the previous server did on Linux): dual-stack clusters.
        dualstack = family == socket.AF_INET6 and host == "::" and socket.has_dualstack_ipv6()
        self._listener = socket.create_server(
            (host, port), family=family, backlog=backlog, dualstack_ipv6=dualstack
        )
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        # fd -> connection, least recently active first (for eviction at the bound).
        self._conns: collections.OrderedDict[int, Connection] = collections.OrderedDict()
        self._stopping = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._next_sweep = 0.0
        # Counters, for tests and the benchmark.
        self.accepted = 0
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0
        self.peak_connections = 0

    # -- public ------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def connections(self) -> int:
        return len(self._conns)

    @property
    def renders(self) -> int:
        return self.responder.renders

    @property
    def busy_connections(self) -> int:
        """Open connections with a request or a response in progress (not evictable)."""
        return sum(1 for conn in list(self._conns.values()) if not conn.idle)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="metrics-http", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Run the loop in the calling thread until ``stop()``."""
        self._run()

    def stop(self) -> None:
        """End ``serve_forever`` (callable from the loop itself, e.g. a reader callback)."""
        self._stopping.set()
        self._wake()

    def release(self) -> None:
        """Close this process's copies of the server's descriptors, for the process that
        forked the serving one. Unlike ``close`` it unregisters nothing: the epoll
        instance is shared with the child, and unregistering would stop the child's loop
        from seeing its listener."""
        self._closed = True
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()  # closes this process's epoll descriptor only

    def add_reader(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the loop whenever ``sock`` is readable."""
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, _Reader(callback))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout=5)
        if self._thread is None or not self._thread.is_alive():
            for conn in list(self._conns.values()):
                self._drop(conn)
            for sock in (self._listener, self._wake_r, self._wake_w):
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
                sock.close()
            self._selector.close()

    # -- loop --------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._iteration()
            except Exception:  # noqa: BLE001 - the server must keep serving
                log.exception("metrics HTTP loop iteration failed")
                time.sleep(0.05)

    def _iteration(self) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(1.0, self._next_sweep - now)) if self._conns else 1.0
        events = self._selector.select(timeout)
        now = time.monotonic()
        pending: list[tuple[Connection, Request]] = []
        for key, mask in events:
            sock = key.fileobj
            if sock is self._listener:
                self._accept(now)
            elif sock is self._wake_r:
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            elif isinstance(key.data, _Reader):
                key.data.callback()
            else:
                conn = key.data
                if mask & selectors.EVENT_READ and conn.fd in self._conns:
                    self._read(conn, now, pending)
                if mask & selectors.EVENT_WRITE and conn.fd in self._conns:
                    self._flush(conn, now)
        if pending:
            self._respond(pending, now)
        if now >= self._next_sweep:
            self._sweep(now)
            self._next_sweep = now + min(1.0, self.request_timeout / 4, self.idle_timeout / 4)

    def _accept(self, now: float) -> None:
        for _ in range(128):  # a burst is accepted in a few rounds, between other work
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("cannot accept a connection: %s", exc.strerror)
                    return
                if exc.errno == errno.ECONNABORTED:
                    continue
                raise
            self.accepted += 1
            if len(self._conns) >= self.max_connections and not self._evict_idle():
                self.refused += 1
                self._refuse(sock)
                continue
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            conn = Connection(sock, now)
            self._conns[conn.fd] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self.peak_connections = max(self.peak_connections, len(self._conns))

    def _evict_idle(self) -> bool:
        """Close the least recently active idle connection; False if none is idle."""
        for conn in self._conns.values():
            if conn.idle:
                self.evicted += 1
                self._drop(conn)
                return True
        return False

    def _refuse(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.sendmsg(self.responder.simple(503, b"too many connections\n"))
        except OSError:
            pass
        sock.close()

    def _read(self, conn: Connection, now: float, pending: list[tuple[Connection, Request]]) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if conn.draining:
            if not data:
                self._drop(conn)  # the client closed its side too
            return  # lingering close: discard what still arrives
        if not data:
            if conn.out:  # half-closed: still deliver what was asked for
                conn.close_after = True
                conn.inbuf.clear()
                self._watch(conn, selectors.EVENT_WRITE)
            else:
                self._drop(conn)
            return
        if conn.close_after:
            return  # a response with Connection: close is pending; ignore what follows
        if not conn.inbuf:
            conn.head_started = now
        conn.inbuf += data
        self._touch(conn, now)
        pending.extend((conn, request) for request in conn.take_requests(now))

    def _respond(self, pending: list[tuple[Connection, Request]], now: float) -> None:
        batch = self.responder.batch()
        touched: list[Connection] = []
        for conn, req in pending:
            if conn.fd not in self._conns:
                continue
            conn.out.extend(batch.response(req, keep=req.keep_alive and not conn.close_after))
            touched.append(conn)
        for conn in touched:
            if conn.fd in self._conns and conn.out:
                self._flush(conn, now)

    def _flush(self, conn: Connection, now: float) -> None:
        while conn.out:
            try:
                n, complete = conn.send_some()
            except OSError:
                self._drop(conn)
                return
            if n:
                self._touch(conn, now)
            if not complete:  # the socket buffer is full: wait until it is writable
                self._watch(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
                return
        if conn.close_after:
            self._linger(conn, now)
        else:
            self._watch(conn, selectors.EVENT_READ)

    def _linger(self, conn: Connection, now: float) -> None:
        """Shut down the write side, then read and discard until the client closes (or
        ``LINGER_SECONDS``): closing with unread input would send a RST that can destroy
        the response before the client has read it."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn)
            return
        conn.draining = now
        conn.inbuf.clear()
        self._watch(conn, selectors.EVENT_READ)

    def _watch(self, conn: Connection, mask: int) -> None:
        if conn.mask != mask:
            self._selector.modify(conn.sock, mask, conn)
            conn.mask = mask

    def _touch(self, conn: Connection, now: float) -> None:
        conn.last = now
        self._conns.move_to_end(conn.fd)

    def _sweep(self, now: float) -> None:
        expired = []
        for conn in self._conns.values():
            if conn.draining:
                if now - conn.draining > LINGER_SECONDS:
                    expired.append((conn, None))
            elif conn.out:
                if now - conn.last > self.write_timeout:
                    expired.append((conn, None))
            elif conn.inbuf:
                if now - conn.head_started > self.request_timeout:
                    expired.append((conn, 408))
            elif now - conn.last > self.idle_timeout:
                expired.append((conn, None))
        for conn, code in expired:
            if conn.draining:
                self._drop(conn)
                continue
            self.timed_out += 1
            if code is None:
                self._drop(conn)
                continue
            conn.inbuf.clear()
            conn.close_after = True
            conn.out.extend(self.responder.simple(code, b"request timeout\n"))
            self._flush(conn, now)

    def _drop(self, conn: Connection) -> None:
        if self._conns.pop(conn.fd, None) is None:
            return
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
