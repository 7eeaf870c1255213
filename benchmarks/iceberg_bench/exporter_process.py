"""The exporter as a child process, and the HTTP clients that scrape it during the benchmark.

Needs ``benchmarks/`` (scrape_clients) and ``tests/`` (proc_tree) on ``sys.path``, as
``bench_iceberg.py`` sets it up.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import scrape_clients
from proc_tree import tree_total

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CYCLE_RE = re.compile(
    r"cycle ok in ([\d.]+)s \(\+([\d.]+)s render\): (\d+) tables, (\d+) unchanged, (\d+) failed, "
    r"(\d+) metadata reads in total"
)


class ExporterProcess:
    """``python -m exporters.iceberg`` as a child process; its cycle log lines, parsed."""

    def __init__(self, args: list[str]):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporters.iceberg", "--listen-address", "127.0.0.1", "--port", str(self.port), *args],
            cwd=REPO_ROOT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = time.perf_counter()
        self.cycles: list[dict] = []  # {"at", "seconds", "render", "tables", "unchanged", "failed", "reads"}
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            m = _CYCLE_RE.search(line)
            with self._cond:
                if m:
                    seconds, render, tables, unchanged, failed, reads = m.groups()
                    self.cycles.append(
                        {
                            "at": time.perf_counter(),
                            "seconds": float(seconds),
                            "render": float(render),
                            "tables": int(tables),
                            "unchanged": int(unchanged),
                            "failed": int(failed),
                            "reads": int(reads),
                        }
                    )
                elif " ERROR " in line or "Traceback" in line or "FAILED" in line:
                    self.errors.append(line.rstrip())
                self._cond.notify_all()

    def wait_cycles(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.cycles) < n:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"exporter exited with {self.proc.returncode}: {self.errors[-5:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{n} cycles not done within {timeout}s")
                self._cond.wait(min(left, 1.0))

    def peak_rss_mib(self, field: str = "VmHWM") -> float:
        """VmHWM: the peak resident set so far; VmRSS: the current one. Summed over the
        exporter process and its serving process (for VmHWM an upper bound, see proc_tree)."""
        return tree_total(self.proc.pid, field) / 1024

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


def scrape_with_clients(port: int, clients: int, per_client: int, gzip: bool) -> tuple[list[float], int, float]:
    """``clients`` keep-alive connections (as Prometheus keeps them), each GETting /metrics
    ``per_client`` times back to back, from one selector loop (scrape_clients.concurrent:
    client threads would measure this process's GIL too); latencies in ms and the body
    size and the wall time. With ``gzip`` the request says ``Accept-Encoding: gzip`` as
    Prometheus does."""
    with scrape_clients.connect(port) as warm:  # the first answer after start-up is not timed
        scrape_clients.get(warm, scrape_clients.request_bytes(gzip_ok=gzip))
    latencies, errors, wall = scrape_clients.concurrent(port, clients, clients * per_client, gzip_ok=gzip)
    if errors:
        raise RuntimeError(f"{errors} scrapes failed (non-200, wrong encoding, closed or no answer in 10 s)")
    return [x * 1000 for x in latencies], scrape_clients.concurrent.last_length, wall


def fetch_metrics(port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("iceberg_exporter_") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
