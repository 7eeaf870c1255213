"""Stand-in receivers (PagerDuty, Slack, dead-man's switch) and processes stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional


from tools.gameday.common import BIN
from tools.loopback import http_get


# --------------------------------------------------------------------------------------------
# Stand-in receivers
# --------------------------------------------------------------------------------------------


@dataclass
class Notification:
    t: float
    receiver: str
    path: str
    body: dict


class StandIn:
    """A receiver stand-in: records each POST (time, body) and answers like the real service."""

    def __init__(self, name: str, status: int, reply: bytes, content_type: str = "application/json"):
        self.name = name
        self.received: list[Notification] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    parsed = json.loads(body or b"{}")
                except ValueError:
                    parsed = {"raw": body.decode(errors="replace")}
                with stand_in.lock:
                    stand_in.received.append(Notification(time.time(), stand_in.name, self.path, parsed))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)

    def start(self) -> "StandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def snapshot(self) -> list[Notification]:
        with self.lock:
            return list(self.received)


def stand_ins() -> dict[str, StandIn]:
    return {
        "pagerduty": StandIn("pagerduty", 202, b'{"status":"success","message":"Event processed","dedup_key":"gameday"}'),
        "slack": StandIn("slack", 200, b"ok", "text/plain; charset=utf-8"),  # what Slack's incoming webhooks answer
        "deadman": StandIn("deadman", 200, b"ok", "text/plain; charset=utf-8"),
    }


# --------------------------------------------------------------------------------------------
# Processes: started with a new session, stopped by PID (process group = PID) whatever happens
# --------------------------------------------------------------------------------------------


def prom_api(base: str, path: str, params: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    body = json.loads(http_get(f"{base}{path}?{query}", timeout=60))
    if body.get("status") != "success":
        raise ValueError(body)
    return body["data"]


class Processes:
    """Every process of a run; threads may start and stop them too (the list is locked)."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.lock = threading.Lock()

    def start(self, name: str, args: list[str], log_path: Path, ready_url: Optional[str] = None, timeout: float = 60.0,
              env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> subprocess.Popen:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd)
        with self.lock:
            self.procs.append((name, proc))
        if ready_url:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
                try:
                    http_get(ready_url, timeout=2)
                    break
                except (OSError, urllib.error.URLError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} not ready at {ready_url} after {timeout}s") from None
                    time.sleep(0.2)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        with self.lock:
            self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        with self.lock:
            procs = list(self.procs)
        for _, proc in reversed(procs):
            self.stop(proc)


def with_package_share(args: list[str], package: str) -> list[str]:
    """Run ``args`` seeing the files ``package`` installs under /usr/share (Debian's Alertmanager reads
    /usr/share/prometheus/alertmanager/default.tmpl): an overlay on /usr/share in the process's own
    mount namespace, as tests/live.py does. The machine's /usr/share is untouched; the PID stays
    the program's (unshare and sh exec it)."""
    share = BIN.parent / "pkgs" / package / "usr" / "share"
    if not share.is_dir():
        return args
    unshare = ["unshare", "--mount", "--propagation", "private"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    script = 'mount -t overlay overlay -o "lowerdir=$0:/usr/share" /usr/share && exec "$@"'
    return [*unshare, "sh", "-c", script, str(share), *args]


def run_tool(args: list[str], timeout: float) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} {' '.join(args[1:4])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def binary(name: str) -> str:
    path = BIN / name
    if not os.access(path, os.X_OK):
        raise SystemExit(f"gameday: {path} not found: run `make tools`")
    return str(path)


