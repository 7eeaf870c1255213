"""Emulated scrape targets: series with healthy or broken values, served over HTTP."""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


from tools.gameday.rendered import Rendered


# --------------------------------------------------------------------------------------------
# Emulated targets
# --------------------------------------------------------------------------------------------


class Value:
    """A series' value over wall time: gauge levels (number or f(t)) or counter rates, plus jumps."""

    def __init__(self, counter: bool, origin: float, level: Any):
        self.counter = counter
        self.changes: list[tuple[float, Any]] = [(origin, level)]
        self.jumps: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def set(self, t: float, level: Any) -> None:
        with self.lock:
            self.changes.append((t, level))

    def jump(self, t: float, amount: float) -> None:
        with self.lock:
            self.jumps.append((t, amount))

    def at(self, t: float) -> float:
        with self.lock:
            changes, jumps = list(self.changes), list(self.jumps)
        if not self.counter:
            level = changes[0][1]
            for start, lvl in changes:
                if start <= t:
                    level = lvl
            return float(level(t) if callable(level) else level)
        total = 0.0
        for i, (start, rate) in enumerate(changes):
            if start >= t:
                break
            end = changes[i + 1][0] if i + 1 < len(changes) else t
            total += rate * (min(end, t) - start)
        return total + sum(a for jt, a in jumps if jt <= t)


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    value: Value
    born: float = 0.0
    died: float = math.inf

    def alive(self, t: float) -> bool:
        return self.born <= t < self.died


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels_text(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items())) + "}" if labels else ""


@dataclass
class Target:
    key: str  # path segment on the emulated-target server
    job: str
    monitor: Optional[str]  # rendered ServiceMonitor/PodMonitor/Probe whose endpoint this emulates
    labels: dict[str, str]  # target labels besides job (instance, namespace, pod, ...)
    layer: Optional[str] = None  # the platform-availability layer its job falls in
    series: list[Series] = field(default_factory=list)
    down: bool = False
    # Filled from the monitor: interval, path, honor_labels, metric keep-list, scrape timeout.
    interval: str = ""
    path: str = "/metrics"
    honor_labels: bool = False
    metric_relabel: list[dict] = field(default_factory=list)
    scrape_timeout: Optional[str] = None
    origin: float = 0.0
    # A real program serves this target (tools/gameday/real.py): its 127.0.0.1 host:port and
    # what it is. Prometheus scrapes that address under the same labels; no series are emulated.
    address: Optional[str] = None
    program: Optional[str] = None
    # The names the emulated target served before a real program took it over: that program
    # starts with this run, so they have no backfilled history.
    real_names: frozenset[str] = frozenset()

    def gauge(self, name: str, labels: dict[str, str], level: Any) -> Series:
        s = Series(name, dict(labels), Value(False, self.origin, level), born=self.origin)
        self.series.append(s)
        return s

    def counter(self, name: str, labels: dict[str, str], rate: float) -> Series:
        s = Series(name, dict(labels), Value(True, self.origin, rate), born=self.origin)
        self.series.append(s)
        return s

    def find(self, name: str, **labels: str) -> list[Series]:
        return [s for s in self.series if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def exposition(self, t: float) -> str:
        lines = []
        for s in self.series:
            if s.alive(t):
                lines.append(f"{s.name}{labels_text(s.labels)} {s.value.at(t):.17g}")
        return "\n".join(lines) + "\n"

    # What Prometheus stores for a scraped sample: target labels merged (honor_labels or
    # exported_*), then metric_relabel_configs (keep/drop on labels).
    def stored_labels(self, s: Series) -> Optional[dict[str, str]]:
        target = {"job": self.job, **self.labels}
        merged = dict(s.labels)
        for k, v in target.items():
            if k in merged and not self.honor_labels:
                merged[f"exported_{k}"] = merged.pop(k)
            if k not in merged:
                merged[k] = v
        merged["__name__"] = s.name
        for rule in self.metric_relabel:
            action = rule.get("action", "replace")
            source = ";".join(merged.get(name, "") for name in rule.get("source_labels") or [])
            matched = re.fullmatch(rule.get("regex", "(.*)"), source) is not None
            if action == "keep" and not matched:
                return None
            if action == "drop" and matched:
                return None
            if action not in ("keep", "drop"):
                raise ValueError(f"{self.key}: metric relabel action {action!r} not emulated")
        return merged


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def apply_monitor(target: Target, rendered: Rendered, default_interval: str) -> None:
    """Interval, path, honor_labels and metricRelabelings of the rendered monitor's first endpoint."""
    target.interval = default_interval
    if target.monitor is None:
        return
    if target.monitor not in rendered.monitors:
        raise SystemExit(f"gameday: target {target.key} emulates monitor {target.monitor!r}, which the stack does not render")
    kind, spec = rendered.monitors[target.monitor]
    if kind == "Probe":
        endpoint = spec
        target.path = (spec.get("prober") or {}).get("path", "/probe")
    else:
        endpoints = spec.get("endpoints") or spec.get("podMetricsEndpoints") or [{}]
        endpoint = endpoints[0]
        target.path = endpoint.get("path", "/metrics")
        target.honor_labels = bool(endpoint.get("honorLabels"))
    target.interval = endpoint.get("interval") or default_interval
    target.scrape_timeout = endpoint.get("scrapeTimeout")
    target.metric_relabel = [{_snake(k): v for k, v in r.items()} for r in endpoint.get("metricRelabelings") or []]


class TargetServer:
    """One HTTP server for every emulated target: /<key><path> -> that target's exposition."""

    def __init__(self, targets: dict[str, Target]):
        self.targets = targets
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                key = self.path.lstrip("/").split("/", 1)[0]
                target = server_self.targets.get(key)
                if target is None or target.down:
                    self.send_response(503 if target else 404)
                    self.end_headers()
                    return
                body = target.exposition(time.time()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="targets", daemon=True)

    def start(self) -> "TargetServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


