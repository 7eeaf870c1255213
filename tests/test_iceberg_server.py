"""The Iceberg exporter's HTTP server (exporters/iceberg/server.py) and its /healthz wiring.

Each defect the earlier server had has a test here that fails on the previous server
(http.server.ThreadingHTTPServer: headers and body in two writes, no TCP_NODELAY,
listen backlog 5, a thread per connection, idle connections never closed, no
gzip, /healthz always 200). Everything runs on 127.0.0.1 with bounded waits, and
every server and exporter started is stopped.
"""

from __future__ import annotations

import gzip
import os
import socket
import sys
import threading
import time
import urllib.request
import weakref

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures

from iceberg_fixtures import LocalCatalog, rows, wait_for  # noqa: E402,I001

from exporters.iceberg.app import Exporter  # noqa: E402
from exporters.iceberg.config import load_config  # noqa: E402
from exporters.iceberg.http_protocol import GzipSplicer  # noqa: E402
from exporters.iceberg.server import MetricsServer  # noqa: E402

BODY = b"".join(b'iceberg_table_files_count{database="db",table="t%04d"} %d\n' % (i, i) for i in range(2000))


@pytest.fixture
def servers():
    started: list[MetricsServer] = []

    def make(body=lambda: BODY, **kwargs) -> MetricsServer:
        server = MetricsServer("127.0.0.1", 0, body, **kwargs)
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.close()


@pytest.fixture
def exporters_started():
    started: list[Exporter] = []
    yield started
    for exp in started:
        exp.stop()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


_LEFTOVER: "weakref.WeakKeyDictionary[socket.socket, bytes]" = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response with Content-Length from ``sock`` (pipelined responses
    that arrive in the same recv are kept for the next call)."""
    buf = _LEFTOVER.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = 0 if head_only else int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    if len(rest) > length:
        _LEFTOVER[sock] = rest[length:]
    return code, headers, rest[:length]


def request(sock: socket.socket, path: str = "/metrics", extra: str = "", method: str = "GET") -> None:
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: exporter\r\n{extra}\r\n".encode())


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# -- one write per response, TCP_NODELAY (keep-alive scrapes took ~44 ms) ---------------


def test_each_response_is_one_write_on_a_nodelay_socket(servers, monkeypatch):
    """The old server wrote the headers and the body in two sendall calls without
    TCP_NODELAY: the second write waited for the client's delayed ACK (~40 ms)."""
    writes: list[tuple[bytes, int]] = []
    lock = threading.Lock()
    real_send, real_sendall, real_sendmsg = socket.socket.send, socket.socket.sendall, socket.socket.sendmsg

    def record(sock, data):
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with lock:
            writes.append((bytes(data), nodelay))

    def send(sock, data, *args):  # recorded before it goes out: the client cannot outrun it
        record(sock, data)
        n = real_send(sock, data, *args)
        assert n == len(data), "partial send of a small response"
        return n

    def sendall(sock, data, *args):
        record(sock, data)
        return real_sendall(sock, data, *args)

    def sendmsg(sock, buffers, *args):  # a gather write is one write
        data = b"".join(bytes(b) for b in buffers)
        record(sock, data)
        n = real_sendmsg(sock, buffers, *args)
        assert n == len(data), "partial send of a small response"
        return n

    body = BODY[:8000]  # fits the socket buffer: one send() unless the server splits it
    server = servers(body=lambda: body)
    monkeypatch.setattr(socket.socket, "send", send)
    monkeypatch.setattr(socket.socket, "sendall", sendall)
    monkeypatch.setattr(socket.socket, "sendmsg", sendmsg)
    with connect(server.port) as client:
        client_port = client.getsockname()[1]
        for path in ("/metrics", "/healthz", "/metrics"):
            request(client, path)
            read_response(client)
    monkeypatch.undo()
    # Only the server's writes (the client's requests go the other way).
    responses = [(data, nodelay) for data, nodelay in writes if data.startswith(b"HTTP/1.1 ")]
    assert len(responses) == 3
    assert len([w for w in writes if not w[0].startswith(b"GET ")]) == 3, "a response took more than one write"
    for data, nodelay in responses:
        assert nodelay, "TCP_NODELAY not set on the connection"
        head, _, body = data.partition(b"\r\n\r\n")
        assert body, "headers written without the body"
    assert responses[0][0].endswith(body) and responses[2][0].endswith(body)
    assert client_port  # the three went over one keep-alive connection
    assert server.accepted == 1


def test_listen_backlog_is_at_least_128(monkeypatch):
    """The old server listened with socketserver's default backlog of 5: ~1 s SYN retries
    under 20 concurrent connects."""
    backlogs: list[int] = []
    real_listen = socket.socket.listen

    def listen(sock, backlog=128):
        backlogs.append(backlog)
        return real_listen(sock, backlog)

    monkeypatch.setattr(socket.socket, "listen", listen)
    server = MetricsServer("127.0.0.1", 0, lambda: BODY)
    monkeypatch.undo()
    try:
        assert backlogs and min(backlogs) >= 128
    finally:
        server.close()


def test_many_concurrent_connects_are_all_answered(servers):
    server = servers()
    socks = [socket.socket() for _ in range(200)]
    try:
        for s in socks:
            s.settimeout(10)
            s.connect(("127.0.0.1", server.port))
        for s in socks:
            request(s, "/healthz")
        for s in socks:
            code, _, body = read_response(s)
            assert (code, body) == (200, b"ok\n")
    finally:
        for s in socks:
            s.close()


# -- idle connections, connection bound, threads ------------------------------------------


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(servers):
    """The old server kept idle keep-alive connections (and their threads) forever."""
    server = servers(idle_timeout=0.3)
    with connect(server.port) as client:
        request(client)
        code, headers, _ = read_response(client)
        assert code == 200 and "keep-alive" in headers and "connection" not in headers
        client.settimeout(10)
        assert closed_by_server(client)  # within the bounded socket timeout, not never
    wait_for(lambda: server.connections == 0)


def test_stalled_request_gets_408_and_is_closed(servers):
    server = servers(request_timeout=0.3)
    with connect(server.port) as client:
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        code, headers, body = read_response(client)
        assert code == 408 and headers["connection"] == "close"
        assert closed_by_server(client)


def test_idle_connections_do_not_take_threads(servers):
    """200 idle clients held 208 threads on the old server; here they hold none."""
    server = servers()
    before = threading.active_count()
    socks = []
    try:
        for _ in range(300):
            s = connect(server.port)
            request(s, "/healthz")
            assert read_response(s)[0] == 200
            socks.append(s)
        assert threading.active_count() - before <= 2
        assert server.connections == 300
        # And a scrape still gets its answer with all of them open.
        with connect(server.port) as client:
            request(client)
            code, _, body = read_response(client)
            assert code == 200 and body == BODY
    finally:
        for s in socks:
            s.close()


def test_at_the_connection_bound_the_longest_idle_connection_makes_room(servers):
    server = servers(max_connections=10)
    idle = []
    try:
        for _ in range(10):
            s = connect(server.port)
            request(s, "/healthz")
            read_response(s)
            idle.append(s)
        wait_for(lambda: server.connections == 10)
        with connect(server.port) as fresh:  # the 11th
            request(fresh)
            code, _, body = read_response(fresh)
            assert code == 200 and body == BODY
        idle[0].settimeout(5)
        assert closed_by_server(idle[0])  # the oldest idle one was closed
        assert server.evicted == 1 and server.refused == 0
        assert server.peak_connections <= 10
        request(idle[1], "/healthz")  # the others still work
        assert read_response(idle[1])[0] == 200
    finally:
        for s in idle:
            s.close()


def test_at_the_bound_with_every_connection_busy_a_new_one_gets_503_at_once(servers):
    server = servers(max_connections=5)
    busy = []
    try:
        for _ in range(5):
            s = connect(server.port)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")  # a request in progress
            busy.append(s)
        # Accepted is not enough: until the server has read its bytes, a connection is idle
        # (and evictable), so the extra one would take its place instead of getting 503.
        wait_for(lambda: server.busy_connections == 5)
        with connect(server.port) as extra:
            code, headers, body = read_response(extra)
            assert code == 503 and headers["connection"] == "close" and body == b"too many connections\n"
        assert server.refused == 1 and server.connections == 5
        busy[0].sendall(b"Host: x\r\n\r\n")  # the busy ones finish normally
        assert read_response(busy[0])[2] == BODY
    finally:
        for s in busy:
            s.close()


# -- gzip -----------------------------------------------------------------------------------


def test_gzip_when_the_client_accepts_it(servers):
    """Prometheus sends Accept-Encoding: gzip; the old server always sent identity."""
    server = servers()
    with connect(server.port) as client:
        request(client, extra="Accept-Encoding: gzip\r\n")
        code, headers, body = read_response(client)
        assert code == 200 and headers["content-encoding"] == "gzip"
        assert headers["vary"] == "Accept-Encoding"
        assert gzip.decompress(body) == BODY and len(body) < len(BODY) / 4
        request(client, extra="Accept-Encoding: gzip;q=0, identity\r\n")
        code, headers, body = read_response(client)
        assert "content-encoding" not in headers and body == BODY
        request(client, method="HEAD", extra="Accept-Encoding: gzip\r\n")
        code, headers, body = read_response(client, head_only=True)
        assert code == 200 and headers["content-encoding"] == "gzip" and int(headers["content-length"]) > 0
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert gzip.decompress(resp.read()) == BODY


def test_accept_encoding_parsing():
    from exporters.iceberg.http_protocol import accepts_gzip

    assert accepts_gzip("gzip")
    assert accepts_gzip("deflate, gzip;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("identity")
    assert not accepts_gzip(None)
    assert not accepts_gzip("*;q=0")


# -- HTTP details ---------------------------------------------------------------------------


def test_keep_alive_pipelining_head_and_errors(servers):
    server = servers()
    with connect(server.port) as client:
        client.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert read_response(client)[::2] == (200, b"ok\n")
        code, headers, body = read_response(client, head_only=True)
        assert code == 200 and int(headers["content-length"]) == len(BODY) and headers["content-type"].startswith(
            "text/plain; version=0.0.4"
        )
        assert read_response(client)[0] == 404
        assert read_response(client)[0] == 405
        assert read_response(client)[0] == 200
    with connect(server.port) as client:  # HTTP/1.0 without keep-alive: closed after the answer
        client.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        code, headers, body = read_response(client)
        assert code == 200 and headers["connection"] == "close" and body == BODY
        assert closed_by_server(client)
    with connect(server.port) as client:  # oversized head
        client.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
        assert read_response(client)[0] == 431


def test_parse_request_head():
    from exporters.iceberg.http_protocol import parse_request_head

    r = parse_request_head(b"GET /metrics?x=1 HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close")
    assert (r.method, r.path, r.keep_alive, r.gzip, r.error) == ("GET", "/metrics", False, True, 0)
    assert parse_request_head(b"garbage").error == 400
    assert parse_request_head(b"GET / HTTP/2.0").error == 505
    assert parse_request_head(b"GET / HTTP/1.1\r\nContent-Length: 5").error == 413


def test_render_failure_is_a_500_and_the_server_keeps_serving(servers):
    calls = []

    def body():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return BODY

    server = servers(body=body)
    with connect(server.port) as client:
        request(client)
        assert read_response(client)[0] == 500
        request(client)
        assert read_response(client)[2] == BODY


def test_concurrent_scrapes_share_renders_and_all_get_the_body(servers):
    server = servers()
    results: list[bytes] = []
    lock = threading.Lock()

    def client():
        with connect(server.port) as s:
            for _ in range(20):
                request(s)
                body = read_response(s)[2]
                with lock:
                    results.append(body)

    threads = [threading.Thread(target=client) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 200 and all(b == BODY for b in results)
    assert server.renders <= 200


# -- /healthz: a wedged or dead collector ----------------------------------------------------


def health_code(port: int) -> tuple[int, str]:
    with connect(port) as s:
        request(s, "/healthz", extra="Connection: close\r\n")
        code, _, body = read_response(s)
    return code, body.decode()


def test_server_answers_503_when_health_reports_a_problem(servers):
    state = {"ok": True}
    server = servers(health=lambda: (state["ok"], "ok" if state["ok"] else "stale: test"))
    assert health_code(server.port) == (200, "ok\n")
    state["ok"] = False
    assert health_code(server.port) == (503, "stale: test\n")


@pytest.fixture
def local(tmp_path):
    catalog = LocalCatalog(tmp_path / "cat")
    catalog.create("db.t").append(rows(0, 3))
    return catalog


def test_healthz_503_when_no_cycle_completes_within_a_few_intervals(local, exporters_started):
    """A wedged collection loop: the old /healthz answered 200 forever."""
    cfg = local.config(interval=0.2, table_timeout=0.3, max_backoff=0.2)
    exp = Exporter(cfg)
    exporters_started.append(exp)
    release = threading.Event()
    real_cycle = exp.collector.run_cycle
    wedge = {"on": False}

    def cycle(stop=None):
        if wedge["on"]:
            release.wait(30)  # stuck outside any time limit
        return real_cycle(stop)

    exp.collector.run_cycle = cycle
    exp.start()
    assert exp.wait_cycles(1, timeout=10)
    assert health_code(exp.server.port) == (200, "ok\n")
    wedge["on"] = True
    code, reason = wait_for(lambda: (r := health_code(exp.server.port))[0] == 503 and r, timeout=10)
    assert reason.startswith("stale: no collection progress") and "3 x --interval" in reason
    release.set()
    wait_for(lambda: health_code(exp.server.port)[0] == 200, timeout=10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_healthz_503_when_the_collector_thread_died(local, exporters_started):
    exp = Exporter(local.config(interval=0.2))
    exporters_started.append(exp)

    def die():
        raise SystemExit("simulated death of the collection loop")  # not caught by the loop

    exp.run_once = die
    exp.start()
    wait_for(lambda: not exp._thread.is_alive(), timeout=10)
    assert health_code(exp.server.port) == (503, "collector thread died\n")


def test_huge_interval_does_not_kill_the_collector(local, exporters_started):
    """--interval 999999999999 (beyond threading.TIMEOUT_MAX): the old loop died with
    OverflowError right after the first cycle while /healthz kept answering 200."""
    env = {
        "ICEBERG_EXPORTER_CATALOG_URI": local.uri,
        "ICEBERG_EXPORTER_WAREHOUSE": local.warehouse,
        "ICEBERG_EXPORTER_LISTEN_ADDRESS": "127.0.0.1",
        "ICEBERG_EXPORTER_PORT": "0",
    }
    cfg = load_config(["--interval", "999999999999"], env=env)
    assert cfg.interval > threading.TIMEOUT_MAX
    exp = Exporter(cfg)
    exporters_started.append(exp)
    exp.start()
    assert exp.wait_cycles(1, timeout=10)
    for _ in range(25):  # the old thread was dead within milliseconds of its first cycle
        assert exp._thread.is_alive()
        time.sleep(0.02)
    assert health_code(exp.server.port) == (200, "ok\n")
    assert exp.collector.stats[("db", "t")].records == 3
    exp.stop()
    assert not exp._thread.is_alive()  # and it still stops promptly


def test_gzip_splicer_output_is_one_standard_member_equal_to_the_body():
    """Compressing the unchanging head once and the tail per scrape gives valid gzip."""
    import zlib

    from exporters.iceberg.http_protocol import GzipSplicer

    head = b"".join(b"iceberg_table_size_bytes{table=\"t%05d\"} %d\n" % (i, i * 7) for i in range(3000))
    splicer = GzipSplicer()
    bodies = [head + b"iceberg_table_metrics_age_seconds{} %d.%03d\n" % (n, n) * 50 for n in range(5)]
    bodies.append(b"x" + head)  # a new cycle: the head changed
    bodies.append(b"short body\n")
    for body in bodies:
        out = splicer.compress(body)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # exactly one gzip member, CRC and length checked
        assert d.decompress(out) == body and d.eof and d.unused_data == b""
        assert gzip.decompress(out) == body
    assert splicer.head_hits >= 3  # the head was reused, not recompressed each time


def test_split_bodies_gzip_to_one_member_with_or_without_a_prepared_head():
    """SplitBody: the head compressed ahead of time (by the collecting process) or once
    per head object here; each tail compressed per scrape; one standard gzip member."""
    import zlib

    from exporters.iceberg.http_protocol import SplitBody

    head = b"".join(b"iceberg_table_size_bytes{table=\"t%05d\"} %d\n" % (i, i * 7) for i in range(3000))
    splicer = GzipSplicer()
    prepared = GzipSplicer().prepare(head)
    for n, ready in ((1, None), (2, None), (3, prepared), (4, None)):
        split = SplitBody(head, b"iceberg_table_metrics_age_seconds{} %d.%03d\n" % (n, n) * 50, ready)
        out = splicer.compress_split(split)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert d.decompress(out) == split.join() and d.eof and d.unused_data == b""
        if ready is not None:
            assert out[10:].startswith(prepared.deflate)  # the prepared head, as it was given
    empty = SplitBody(b"", b"tail only\n")
    assert gzip.decompress(splicer.compress_split(empty)) == b"tail only\n"


def test_ipv6_any_address_also_accepts_ipv4():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = MetricsServer("::", 0, lambda: BODY)
    except OSError as exc:
        pytest.skip(f"cannot bind :: here: {exc}")
    server.start()
    try:
        with connect(server.port) as client:  # 127.0.0.1
            request(client, "/healthz")
            assert read_response(client)[0] == 200
        with socket.create_connection(("::1", server.port), timeout=10) as client:
            request(client, "/healthz")
            assert read_response(client)[0] == 200
    finally:
        server.close()
