"""The exporter's serving process (exporters/iceberg/serving.py).

/metrics is served by a forked process with its own GIL, fed by the collecting
process over a socketpair. Here: the feed carries exactly what the in-process
exposition serves, sends the big parts only when they change, and forwards the
collector's health; and, with the real ``python -m exporters.iceberg``, each
process notices when the other one dies. Loopback only; every process started is
stopped by PID.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # iceberg_fixtures

from iceberg_fixtures import REPO_ROOT, LocalCatalog, free_port, rows, wait_for  # noqa: E402,I001
from proc_tree import children  # noqa: E402

from exporters.iceberg import serving  # noqa: E402
from exporters.iceberg.app import Exporter  # noqa: E402
from exporters.iceberg.server import MetricsServer  # noqa: E402
from exporters.iceberg.serving import FRAME, Feed, FrameReader, Snapshot  # noqa: E402


@pytest.fixture
def local(tmp_path):
    return LocalCatalog(tmp_path / "cat")


def samples(body: bytes) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
    }


def without_ages(values: dict) -> dict:
    """Ages are computed at scrape time: equal up to the time between two renders."""
    return {k: v for k, v in values.items() if k[0] != "iceberg_table_metrics_age_seconds"}


class Pipe:
    """A Feed writing into a socketpair, a FrameReader + Snapshot reading from it."""

    def __init__(self, exporter: Exporter, health=lambda: (True, "ok")):
        self.parent, self.child = socket.socketpair()
        self.snapshot = Snapshot()
        self.frames: list[dict] = []
        self.eof = False
        self.feed = Feed(exporter.exposition, self.parent, health)
        self.reader = FrameReader(self.child, self._frame, self._eof)
        self.child.setblocking(False)

    def _frame(self, update: dict) -> None:
        self.frames.append(update)
        self.snapshot.apply(update)

    def _eof(self) -> None:
        self.eof = True

    def send_and_read(self) -> dict:
        before = len(self.frames)
        self.feed.send()
        deadline = time.monotonic() + 10
        while len(self.frames) == before:
            assert time.monotonic() < deadline, "no frame arrived"
            self.reader.on_readable()
        return self.frames[-1]

    def close(self) -> None:
        self.parent.close()
        self.child.close()


def test_the_served_body_equals_the_in_process_exposition(local):
    for i in range(3):
        local.create(f"db.t{i}").append(rows(i, 3 + i))
    exporter = Exporter(local.config())
    pipe = Pipe(exporter)
    try:
        assert exporter.run_once().ok
        pipe.send_and_read()
        served, direct = samples(pipe.snapshot.body().join()), samples(exporter.exposition.body())
        assert without_ages(served) == without_ages(direct)
        assert served[("iceberg_table_records_count", (("database", "db"), ("table", "t2")))] == 5
        ages = [v for k, v in served.items() if k[0] == "iceberg_table_metrics_age_seconds"]
        assert len(ages) == 3 and all(0 <= a < 60 for a in ages)
    finally:
        pipe.close()
        exporter.stop()


def test_unchanged_parts_are_not_sent_again_and_changes_are(local):
    table = local.create("db.t")
    table.append(rows(0, 3))
    exporter = Exporter(local.config())
    pipe = Pipe(exporter)
    try:
        assert exporter.run_once().ok
        first = pipe.send_and_read()
        assert {"table_body", "table_gzip", "age_parts", "confirmed", "self_metrics", "health"} <= set(first)
        assert exporter.run_once().ok  # nothing changed: same rendered families
        second = pipe.send_and_read()
        assert "table_body" not in second and "age_parts" not in second
        assert "confirmed" in second  # the table was confirmed again: its age restarts
        table.append(rows(3, 4))
        assert exporter.run_once().ok
        third = pipe.send_and_read()
        assert "table_body" in third and "age_parts" not in third  # same tables, new values
        assert samples(pipe.snapshot.body().join())[("iceberg_table_records_count", (("database", "db"), ("table", "t")))] == 7
    finally:
        pipe.close()
        exporter.stop()


def test_gzip_and_identity_responses_of_the_split_body(local):
    """The serving process sends head and tail without joining them, and gzips only the
    tail behind the head compressed by the collecting process: both decode to the body."""
    for i in range(40):
        local.create(f"db.t{i:02d}").append(rows(i, 2))
    exporter = Exporter(local.config())
    pipe = Pipe(exporter)
    server = MetricsServer("127.0.0.1", 0, pipe.snapshot.body, health=pipe.snapshot.health)
    server.start()
    try:
        assert exporter.run_once().ok
        pipe.send_and_read()
        split = pipe.snapshot.body()
        assert split.prepared is not None and len(split.head) > 16 * 1024
        for gzip_ok in (True, False):
            headers = {"Accept-Encoding": "gzip"} if gzip_ok else {}
            req = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers=headers)
            with urllib.request.urlopen(req, timeout=5) as resp:
                raw, encoding = resp.read(), resp.headers.get("Content-Encoding")
            assert encoding == ("gzip" if gzip_ok else None)
            body = gzip.decompress(raw) if gzip_ok else raw
            assert body.startswith(split.head)
            assert without_ages(samples(body)) == without_ages(samples(exporter.exposition.body()))
        assert server.responder.gzip.head_hits >= 1  # the prepared head was used, not compressed again
    finally:
        server.close()
        pipe.close()
        exporter.stop()


def test_the_collectors_health_verdict_is_served_and_silence_is_unhealthy(local, monkeypatch):
    exporter = Exporter(local.config())
    verdict = [(True, "ok")]
    pipe = Pipe(exporter, health=lambda: verdict[0])
    try:
        pipe.send_and_read()
        assert pipe.snapshot.health() == (True, "ok")
        verdict[0] = (False, "collector thread died")
        pipe.send_and_read()
        assert pipe.snapshot.health() == (False, "collector thread died")
        verdict[0] = (True, "ok")
        pipe.send_and_read()
        assert pipe.snapshot.health()[0]
        # No update for longer than SILENT_AFTER_SECONDS (a wedged exporter process).
        pipe.snapshot.heard_at -= serving.SILENT_AFTER_SECONDS + 1
        ok, reason = pipe.snapshot.health()
        assert not ok and "no update from the collecting process" in reason
    finally:
        pipe.close()
        exporter.stop()


def test_a_big_frame_is_read_in_bounded_steps_and_eof_is_seen(monkeypatch):
    """A 6 MiB body must not hold the serving loop: each wake-up reads at most READ_BUDGET."""
    monkeypatch.setattr(serving, "READ_BUDGET", 64 * 1024)
    parent, child = socket.socketpair()
    child.setblocking(False)
    got: list[dict] = []
    eof: list[bool] = []
    reader = FrameReader(child, got.append, lambda: eof.append(True))
    payload = pickle.dumps({"table_body": os.urandom(1 << 20)})
    import threading

    writer = threading.Thread(target=lambda: (parent.sendall(FRAME.pack(len(payload))), parent.sendall(payload)))
    writer.start()
    calls = 0
    deadline = time.monotonic() + 10
    while not got:
        assert time.monotonic() < deadline
        reader.on_readable()
        calls += 1
    writer.join(5)
    assert len(got[0]["table_body"]) == 1 << 20
    assert calls >= (1 << 20) // (64 * 1024)  # never more than the budget per call
    parent.close()
    deadline = time.monotonic() + 5
    while not eof:
        assert time.monotonic() < deadline
        reader.on_readable()
    child.close()


# -- the real processes ------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def exporter_process(local):
    """The real exporter as a child of this test: (Popen, port, serving pid)."""
    local.create("db.t").append(rows(0, 3))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "exporters.iceberg", "--catalog-uri", local.uri, "--warehouse", local.warehouse,
            "--listen-address", "127.0.0.1", "--port", str(port), "--interval", "1s",
        ],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    serving_pids: list[int] = []
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    return b'iceberg_table_records_count{database="db",table="t"} 3.0' in resp.read()
            except OSError:
                return False

        wait_for(ready, 30)  # the exporter serves the table
        serving_pids[:] = children(proc.pid)
        assert len(serving_pids) == 1, serving_pids
        yield proc, port, serving_pids[0]
    finally:
        for pid in [proc.pid, *serving_pids]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        for pid in serving_pids:
            with contextlib.suppress(AssertionError):  # best effort: init reaps an orphan
                wait_for(lambda pid=pid: not _alive(pid), 5)


def test_scrapes_are_answered_by_a_single_threaded_serving_process(exporter_process):
    proc, _, serving_pid = exporter_process
    threads = int(Path(f"/proc/{serving_pid}/status").read_text().split("Threads:")[1].split()[0])
    assert threads == 1  # nothing in it competes with the loop for the GIL
    assert os.getpgid(serving_pid) == os.getpgid(proc.pid)


def test_the_serving_process_exits_when_the_exporter_process_is_killed(exporter_process):
    proc, port, serving_pid = exporter_process
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup at all: the socketpair's EOF is what remains
    proc.wait(10)
    # Its parent is gone, so it is reparented (and reaped) elsewhere: check it is gone.
    wait_for(lambda: not _alive(serving_pid), 10)  # the serving process does not outlive the exporter
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_the_exporter_exits_non_zero_when_its_serving_process_dies(exporter_process):
    proc, _, serving_pid = exporter_process
    os.kill(serving_pid, signal.SIGKILL)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("the exporter kept running without a serving process")
    assert code == 1
    assert "the serving process exited" in proc.stderr.read()


def test_sigterm_stops_both_processes(exporter_process):
    proc, port, serving_pid = exporter_process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    wait_for(lambda: not _alive(serving_pid), 5)
    with pytest.raises((urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_forking_is_refused_once_another_thread_runs():
    """Only the forking thread exists in the child: a lock another thread held (logging,
    the catalog pool) would stay held there forever."""
    import threading

    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    snapshot = Snapshot()
    server = MetricsServer("127.0.0.1", 0, snapshot.body, health=snapshot.health)
    try:
        with pytest.raises(RuntimeError, match="before any other thread"):
            serving.fork_serving_process(server, snapshot)
    finally:
        release.set()
        other.join(5)
        server.close()
