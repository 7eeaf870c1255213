"""Game day: break emulated workloads under a real Prometheus 3 + Alertmanager with production timings.

    make gameday                       # python -m tools.gameday --stack prod
    python -m tools.gameday --skip-dashboards --max-minutes 8

What it starts (all on 127.0.0.1, free ports, stopped by PID at the end, also on Ctrl-C):

* stand-in receivers: a PagerDuty Events v2 endpoint, a Slack incoming webhook and a
  dead-man's-switch webhook, each a small HTTP server recording every notification;
* emulated targets: one HTTP server serving, per target, the catalogued metric names
  (docs/metrics/*.yaml; anything else is refused) in Prometheus text format with healthy
  values, under the job label, target labels, scrape interval and metric keep-list of the
  ServiceMonitor/PodMonitor/Probe the stack renders for it;
* Prometheus 3 (.tools/bin/prometheus) with the rule groups of every PrometheusRule the
  prod stack renders (the program run under the mock engine, as tests/test_deployed_rules.py
  does), the stack's external labels, scrape and evaluation intervals, and 6 hours of
  healthy history backfilled (raw samples, then the recording rules level by level with
  promtool) so that 1h/6h SLO windows hold what a long-running Prometheus would hold;
* Alertmanager (.tools/bin/alertmanager) with the alertmanager-dataops Secret's
  alertmanager.yaml from the same run, unchanged except that the credential files it points
  at live in a temporary folder (random routing key; the Slack "URL" and any other file point
  at the stand-ins) and the PagerDuty API URL is the stand-in's.

Then one scenario per critical alert of the rendered rules, all at the same t0: the scenario
breaks its emulated target (values that make the condition true, or the target stops
answering for up-based alerts), the script waits for the notification at the PagerDuty
stand-in (critical -> PagerDuty), restores the target and waits for the resolve
notification. Before t0, with every target healthy, it runs every panel query and template
variable query of the seven dashboards and reports the empty ones.

Exit status 1 when a critical alert has no scenario, is not notified within 5 minutes, or
reaches another receiver than PagerDuty; the table says which.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIN = ROOT / ".tools" / "bin"
BUDGET_S = 300.0
RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITOR_TYPES = {
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": "ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": "PodMonitor",
    "kubernetes:monitoring.coreos.com/v1:Probe": "Probe",
}
HISTORY_S = 6 * 3600 + 15 * 60  # healthy history before the run: the 6h SLO windows are full


def log(message: str) -> None:
    print(f"[gameday {time.strftime('%H:%M:%S')}] {message}", flush=True)


def seconds(duration: Optional[str]) -> float:
    from core.settings import parse_duration

    return float(parse_duration(duration)) if duration else 0.0


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    value = round(value)
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


# --------------------------------------------------------------------------------------------
# What the prod stack renders
# --------------------------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    from tools.mock_engine import Secret

    if isinstance(value, Secret):
        return _unwrap(value.value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


@dataclass
class Rendered:
    stack: str
    rule_groups: dict[str, list[dict]]  # PrometheusRule name -> spec.groups
    alertmanager_yaml: str
    monitors: dict[str, tuple[str, dict]]  # monitor name -> (kind, spec)
    scrape_interval: str
    evaluation_interval: str
    external_labels: dict[str, str]
    # PrometheusRule name -> who evaluates it in the cluster (prometheus / thanos-ruler / nobody)
    evaluators: dict[str, str] = field(default_factory=dict)

    def rules(self) -> Iterable[tuple[str, dict, dict]]:
        for cr, groups in self.rule_groups.items():
            for group in groups:
                for rule in group.get("rules") or []:
                    yield cr, group, rule


def selects(selector: Optional[dict], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels; None selects nothing."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def render(stack: str = "prod") -> Rendered:
    """Run the program under the mock engine (random secrets) and keep what Prometheus/Alertmanager get."""
    from tests.conftest import PROD_SECRETS, random_secret  # the secrets a prod preview needs, random values
    from tools.mock_engine import PROJECT, run_program, stack_config

    overrides = {f"{PROJECT}:{k}": random_secret(k) for k in PROD_SECRETS}
    config, secret_keys = stack_config(stack, placeholder_secrets=False, overrides=overrides)
    run = run_program(stack, config, secret_keys)
    rule_crs = run.by_type(RULE_CR)
    rule_groups = {r.name: _unwrap(r.inputs["spec"]["groups"]) for r in rule_crs}
    am_secret = run.one("kubernetes:core/v1:Secret", "alertmanager-dataops")
    am_yaml = _unwrap(am_secret.inputs["stringData"])["alertmanager.yaml"]
    monitors = {}
    for type_token, kind in MONITOR_TYPES.items():
        for r in run.by_type(type_token):
            monitors[r.name] = (kind, _unwrap(r.inputs["spec"]))
    release = next(r for r in run.by_type("kubernetes:helm.sh/v3:Release"))
    spec = _unwrap(release.inputs["values"])["prometheus"]["prometheusSpec"]
    rulers = [_unwrap(r.inputs.get("spec") or {}) for r in run.registrations if r.type.endswith(":ThanosRuler")]
    evaluators = {}
    for r in rule_crs:
        labels = _unwrap(r.inputs.get("metadata") or {}).get("labels") or {}
        if selects(spec.get("ruleSelector"), labels):
            evaluators[r.name] = "prometheus"
        elif any(selects(ruler.get("ruleSelector"), labels) for ruler in rulers):
            evaluators[r.name] = "thanos-ruler"
        else:
            evaluators[r.name] = "nobody"
    return Rendered(
        stack=stack,
        rule_groups=rule_groups,
        alertmanager_yaml=am_yaml,
        monitors=monitors,
        scrape_interval=spec.get("scrapeInterval") or "30s",
        evaluation_interval=spec.get("evaluationInterval") or "30s",
        external_labels=dict(spec.get("externalLabels") or {}),
        evaluators=evaluators,
    )


@dataclass(frozen=True)
class CriticalAlert:
    alertname: str
    labels: tuple[tuple[str, str], ...]  # the rule's static labels besides severity/component
    rule_cr: str
    group: str
    expr: str
    for_: str

    @property
    def key(self) -> str:
        return self.alertname + "".join(f" {k}={v}" for k, v in self.labels)


def critical_alerts(rendered: Rendered) -> list[CriticalAlert]:
    out = []
    for cr, group, rule in rendered.rules():
        labels = rule.get("labels") or {}
        if "alert" in rule and labels.get("severity") == "critical":
            extra = tuple(sorted((k, v) for k, v in labels.items() if k not in ("severity", "component")))
            out.append(CriticalAlert(rule["alert"], extra, cr, group["name"], rule["expr"], rule.get("for") or "0s"))
    return out


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


def _labels_text(labels: dict[str, str]) -> str:
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
                lines.append(f"{s.name}{_labels_text(s.labels)} {s.value.at(t):.17g}")
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return response.read()


class Processes:
    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], log_path: Path, ready_url: Optional[str] = None, timeout: float = 60.0) -> subprocess.Popen:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
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
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.procs)):
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


# --------------------------------------------------------------------------------------------
# Prometheus and Alertmanager configuration
# --------------------------------------------------------------------------------------------


def write_rule_files(rendered: Rendered, directory: Path, extra_groups: Optional[dict[str, list[dict]]] = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for name, groups in sorted({**rendered.rule_groups, **(extra_groups or {})}.items()):
        path = directory / f"{name}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True, sort_keys=False))
        files.append(path)
    return files


def scrape_configs(targets: Iterable[Target], port: int) -> list[dict]:
    out = []
    for t in targets:
        job = {
            "job_name": f"gameday-{t.key}",
            "scrape_interval": t.interval,
            "metrics_path": f"/{t.key}{t.path}",
            "honor_labels": t.honor_labels,
            "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": t.job, **t.labels}}],
        }
        timeout = t.scrape_timeout or ("10s" if seconds(t.interval) >= 10 else t.interval)
        job["scrape_timeout"] = timeout if seconds(timeout) <= seconds(t.interval) else t.interval
        if t.metric_relabel:
            job["metric_relabel_configs"] = t.metric_relabel
        out.append(job)
    return out


def prometheus_config(rendered: Rendered, targets: Iterable[Target], target_port: int, rule_files: list[Path],
                      am_port: Optional[int], self_port: Optional[int], scrape_interval: str, evaluation_interval: str) -> dict:
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
            "external_labels": dict(rendered.external_labels),
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": scrape_configs(targets, target_port),
    }
    if self_port:
        # kube-prometheus-stack's own ServiceMonitors for Prometheus and Alertmanager.
        config["scrape_configs"].append({
            "job_name": "gameday-prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{self_port}"], "labels": {
                "job": "prometheus-stack-kube-prom-prometheus", "namespace": "monitoring",
                "pod": "prometheus-prometheus-stack-kube-prom-prometheus-0", "container": "prometheus",
                "service": "prometheus-stack-kube-prom-prometheus", "endpoint": "http-web"}}],
        })
    if am_port:
        config["alerting"] = {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
        config["scrape_configs"].append({
            "job_name": "gameday-alertmanager",
            "static_configs": [{"targets": [f"127.0.0.1:{am_port}"], "labels": {
                "job": "prometheus-stack-kube-prom-alertmanager", "namespace": "monitoring",
                "pod": "alertmanager-prometheus-stack-kube-prom-alertmanager-0", "container": "alertmanager",
                "service": "prometheus-stack-kube-prom-alertmanager", "endpoint": "http-web"}}],
        })
    return config


def alertmanager_config(rendered_yaml: str, workdir: Path, receivers: dict[str, StandIn]) -> tuple[str, dict[str, str]]:
    """The rendered config with credential files moved to ``workdir`` and delivery pointed at the stand-ins.

    Every ``*_file`` under /etc/alertmanager/secrets/<secret>/<key> becomes
    ``workdir/secrets/<secret>/<key>`` holding: a random PagerDuty routing key, the Slack
    stand-in URL for ``slack-*`` keys, the dead-man's-switch stand-in URL for any other key.
    Returns the YAML text and the credential values written (to check what arrived).
    """
    from components.alerting.alertmanager_config import SECRETS_MOUNT_DIR

    secrets_dir = workdir / "secrets"
    written: dict[str, str] = {}

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k.endswith("_file") and isinstance(v, str) and v.startswith(SECRETS_MOUNT_DIR + "/"):
                    local = secrets_dir / v[len(SECRETS_MOUNT_DIR) + 1:]
                    local.parent.mkdir(parents=True, exist_ok=True)
                    key = local.name
                    if "pagerduty" in key:
                        content = secrets.token_hex(16)
                    elif "slack" in key:
                        content = f"{receivers['slack'].url}/slack"
                    else:
                        content = f"{receivers['deadman'].url}/{key}"
                    local.write_text(content)
                    written[key] = content
                    out[k] = str(local)
                else:
                    out[k] = fix(v)
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    config = fix(yaml.safe_load(rendered_yaml))
    config.setdefault("global", {})["pagerduty_url"] = f"{receivers['pagerduty'].url}/v2/enqueue"
    for receiver in config.get("receivers") or []:
        for pd in receiver.get("pagerduty_configs") or []:
            pd.pop("url", None)  # the global (stand-in) URL
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=True), written


# --------------------------------------------------------------------------------------------
# Healthy history: raw samples as OpenMetrics, then recording rules level by level (promtool)
# --------------------------------------------------------------------------------------------


def write_openmetrics(targets: Iterable[Target], start: float, end: float, path: Path) -> int:
    by_name: dict[str, dict[str, list[str]]] = {}
    count = 0
    for t in targets:
        step = seconds(t.interval)
        first = math.ceil(start / step) * step
        times = [first + i * step for i in range(int((end - first) // step) + 1) if first + i * step <= end]
        up_labels = _labels_text({"job": t.job, **t.labels})
        by_name.setdefault("up", {}).setdefault(up_labels, []).extend(f"1 {ts:.3f}" for ts in times)
        count += len(times)
        for s in t.series:
            stored = t.stored_labels(s)
            if stored is None:
                continue
            name = stored.pop("__name__")
            points = [f"{s.value.at(ts):.17g} {ts:.3f}" for ts in times if s.alive(ts)]
            by_name.setdefault(name, {}).setdefault(_labels_text(stored), []).extend(points)
            count += len(points)
    with open(path, "w") as out:
        for name in sorted(by_name):
            for labels, points in by_name[name].items():
                for point in points:
                    out.write(f"{name}{labels} {point}\n")
        out.write("# EOF\n")
    return count


def recording_levels(rendered: Rendered) -> list[dict[str, list[dict]]]:
    """Recording rules grouped by dependency level (level n reads only names of levels < n)."""
    from tests.rules_util import promql_metric_names

    recorded: dict[str, list[str]] = {}
    for _, _, rule in rendered.rules():
        if "record" in rule:
            recorded.setdefault(rule["record"], []).append(rule["expr"])
    level: dict[str, int] = {}

    def level_of(name: str, seen: frozenset = frozenset()) -> int:
        if name in level:
            return level[name]
        deps = [d for expr in recorded[name] for d in promql_metric_names(expr) if d in recorded and d != name and d not in seen]
        level[name] = 1 + max((level_of(d, seen | {name}) for d in deps), default=0)
        return level[name]

    levels: list[dict[str, list[dict]]] = []
    for cr, groups in rendered.rule_groups.items():
        for group in groups:
            for rule in group.get("rules") or []:
                if "record" not in rule:
                    continue
                n = level_of(rule["record"])
                while len(levels) < n:
                    levels.append({})
                bucket = levels[n - 1].setdefault(cr, [])
                target = next((g for g in bucket if g["name"] == group["name"]), None)
                if target is None:
                    target = {k: v for k, v in group.items() if k != "rules"}
                    target["rules"] = []
                    bucket.append(target)
                target["rules"].append(rule)
    return levels


def backfill(rendered: Rendered, targets: list[Target], data_dir: Path, work: Path, procs: Processes,
             start: float, end: float, evaluation_interval: str) -> dict[str, float]:
    """Fill ``data_dir`` with healthy history between ``start`` and ``end``. Returns timings."""
    promtool, prometheus = binary("promtool"), binary("prometheus")
    timings = {}
    t = time.monotonic()
    om = work / "history.om.txt"
    samples = write_openmetrics(targets, start, end, om)
    run_tool([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data_dir)], timeout=300)
    om.unlink()
    timings["raw"] = time.monotonic() - t
    timings["raw_samples"] = samples
    levels = recording_levels(rendered)
    for index, groups in enumerate(levels, 1):
        t = time.monotonic()
        files = write_rule_files(Rendered(rendered.stack, groups, "", {}, "", "", {}), work / f"backfill-rules-{index}")
        port = free_port()
        cfg = work / f"backfill-{index}.yml"
        cfg.write_text(yaml.safe_dump({"global": {"scrape_interval": "1h"}}))
        proc = procs.start(
            f"prometheus (backfill level {index})",
            [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir}", f"--web.listen-address=127.0.0.1:{port}"],
            work / "prometheus-backfill.log",
            f"http://127.0.0.1:{port}/-/ready",
        )
        try:
            # One promtool run per rule file, each into its own directory; a logged error fails.
            for n, file in enumerate(files):
                out = work / f"backfill-blocks-{index}-{n}"
                proc_out = subprocess.run([promtool, "tsdb", "create-blocks-from", "rules", f"--start={int(start)}", f"--end={int(end)}",
                                           f"--url=http://127.0.0.1:{port}", f"--output-dir={out}", f"--eval-interval={evaluation_interval}",
                                           str(file)], capture_output=True, text=True, timeout=600)
                text = proc_out.stdout + proc_out.stderr
                if proc_out.returncode != 0 or "level=ERROR" in text or "level=error" in text:
                    raise RuntimeError(f"promtool rules backfill of {file.name} failed:\n{text[-3000:]}")
                blocks = [b for b in out.iterdir() if b.is_dir()] if out.exists() else []
                if not blocks:
                    raise RuntimeError(f"promtool rules backfill of {file.name} wrote no block:\n{text[-3000:]}")
                for block in blocks:
                    shutil.move(str(block), str(data_dir / block.name))
        finally:
            procs.stop(proc)
        timings[f"rules level {index}"] = time.monotonic() - t
    return timings


def range_read_recordings(rendered: Rendered) -> set[str]:
    """Recorded names some rule reads over a range (``name[1h]``, ``name{...}[5m]``): they need history."""
    recorded = {r["record"] for _, _, r in rendered.rules() if "record" in r}
    out = set()
    for _, _, rule in rendered.rules():
        for name in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+)\s*(?:\{[^}]*\})?\s*\[", rule["expr"]):
            if name in recorded:
                out.add(name)
    return out


def history_gaps(prom_url: str, names: set[str], at: float) -> list[str]:
    """Names with no sample in the hour before ``at`` - 10 min (i.e. in the backfilled part)."""
    if not names:
        return []
    regex = "|".join(re.escape(n) for n in sorted(names))
    data = prom_api(prom_url, "/api/v1/query", {"query": f'{{__name__=~"{regex}"}}[1h]', "time": at - 600})
    return sorted(names - {r["metric"].get("__name__") for r in data["result"] if len(r.get("values") or []) >= 2})


# --------------------------------------------------------------------------------------------
# The emulated world: targets with healthy values, named after the rendered monitors
# --------------------------------------------------------------------------------------------

SPARK_NS = "spark-jobs"
NODES = ("worker-1", "worker-2", "worker-3")
# Workload pods (namespace, pod, container, cpu limit cores, memory limit bytes): what KSM,
# cAdvisor and the joins in the workload rules see.
PODS = (
    ("spark-jobs", "etl-daily-driver", "spark-kubernetes-driver", 2, 8 << 30),
    ("spark-jobs", "etl-daily-exec-1", "spark-kubernetes-executor", 4, 16 << 30),
    ("spark-jobs", "etl-daily-exec-2", "spark-kubernetes-executor", 4, 16 << 30),
    ("spark-jobs", "etl-daily-exec-3", "spark-kubernetes-executor", 4, 16 << 30),
    ("data-processing", "cdc-driver", "spark-kubernetes-driver", 2, 8 << 30),
    ("airflow", "airflow-scheduler-0", "scheduler", 2, 4 << 30),
    ("airflow", "airflow-worker-0", "worker", 4, 8 << 30),
    ("trino", "trino-coordinator-0", "trino", 8, 32 << 30),
    ("trino", "trino-worker-0", "trino", 8, 32 << 30),
    ("minio", "minio-0", "minio", 2, 8 << 30),
)
ICEBERG_TABLES = (("sales", "orders"), ("sales", "customers"), ("marketing", "campaign_events"))
DAG_BUCKETS = (60, 300, 600, 1200, 1800, 2700, 3600, 5400, 7200, 14400)


def _pod_ip(i: int) -> str:
    return f"10.42.{i // 250}.{10 + i % 250}"


@dataclass
class World:
    targets: dict[str, Target]
    origin: float
    freshness_stale_at: float  # when the SLO's listed tables cross their freshness limit
    slo_tables: tuple[tuple[str, str], ...]
    oom_pods: list[str] = field(default_factory=list)

    def add(self, target: Target) -> Target:
        target.origin = self.origin
        self.targets[target.key] = target
        return target


def _freshness_tables(rendered: Rendered) -> tuple[tuple[str, str], ...]:
    tables = set()
    for _, _, rule in rendered.rules():
        if rule.get("record", "").startswith("dataops:slo:error_ratio") and "iceberg_table_last_update_timestamp" in rule["expr"]:
            tables |= set(re.findall(r'iceberg_table_last_update_timestamp\{database="([^"]+)",table="([^"]+)"\}', rule["expr"]))
    return tuple(sorted(tables))


def build_world(rendered: Rendered, origin: float, t0: float, alert_names: set[str]) -> World:
    """Every emulated target with healthy values. ``t0``: the planned break time."""
    slo_tables = _freshness_tables(rendered)
    world = World({}, origin, t0, slo_tables)
    w = world.add

    # Spark: the operator's application counters (PodMonitor spark-operator, honorLabels) and
    # the driver/executor JVMs (PodMonitor spark-applications, jmx_exporter).
    op = w(Target("spark-operator", "monitoring/spark-operator", "spark-operator", {
        "instance": f"{_pod_ip(1)}:8080", "namespace": "spark-operator", "pod": "spark-operator-controller-0",
        "container": "spark-operator-controller", "endpoint": "metrics"}, layer="spark"))
    for ns in (SPARK_NS, "data-processing"):
        app = {"namespace": ns, "app_type": "Scala"}
        op.counter("spark_application_count", app, 2 / 60)
        op.counter("spark_application_submit_count", app, 2 / 60)
        op.gauge("spark_application_running_count", app, 4)
        op.counter("spark_application_success_count", app, 2 / 60)
        op.counter("spark_application_failure_count", app, 1 / 3600)
        op.counter("spark_application_success_execution_time_seconds_count", app, 2 / 60)
        op.counter("spark_application_success_execution_time_seconds_sum", app, 2 / 60 * 600)
        op.counter("spark_application_failure_execution_time_seconds_count", app, 1 / 3600)
        op.counter("spark_application_failure_execution_time_seconds_sum", app, 1 / 3600 * 300)
    for i, (ns, pod, container, _, _) in enumerate(p for p in PODS if p[0] in (SPARK_NS, "data-processing")):
        role = "driver" if "driver" in container else "executor"
        app_id = f"spark-{abs(hash(pod.split('-')[0])) % 10**8:08d}"
        t = w(Target(f"spark-jvm-{i}", "monitoring/spark-applications", "spark-applications", {
            "instance": f"{_pod_ip(20 + i)}:8090", "namespace": ns, "pod": pod, "container": container,
            "spark_app_id": app_id, "spark_role": role, "executor_id": "driver" if role == "driver" else pod[-1],
            "endpoint": "jmx-metrics"}, layer="spark"))
        for gc, rate in (("G1 Young Generation", 0.02), ("G1 Old Generation", 0.001)):
            t.counter("jvm_gc_collection_seconds_sum", {"gc": gc}, rate)
            t.counter("jvm_gc_collection_seconds_count", {"gc": gc}, rate * 20)
        t.gauge("jvm_memory_bytes_used", {"area": "heap"}, 3 << 30)
        t.gauge("jvm_memory_bytes_max", {"area": "heap"}, 8 << 30)

    # Airflow: statsd_exporter with our mapping (ServiceMonitor airflow-statsd-exporter).
    af = w(Target("airflow-statsd", "airflow-statsd-exporter", "airflow-statsd-exporter", {
        "instance": f"{_pod_ip(40)}:9102", "namespace": "monitoring", "pod": "airflow-statsd-exporter-0",
        "container": "statsd-exporter", "service": "airflow-statsd-exporter", "endpoint": "metrics"}, layer="airflow"))
    af.counter("airflow_scheduler_heartbeat", {}, 0.2)
    af.gauge("airflow_pool_open_slots", {"pool": "default_pool"}, 96)
    for dag in ("daily_sales", "hourly_events"):
        af.counter("airflow_ti_finish", {"dag_id": dag, "task_id": "load", "state": "success"}, 1 / 60)
        af.counter("airflow_ti_finish", {"dag_id": dag, "task_id": "load", "state": "failed"}, 0.0)
        for status, rate, duration in (("success", 1 / 60, 1500), ("failed", 1 / 7200, 600)):
            labels = {"dag_id": dag, "status": status}
            for le in DAG_BUCKETS:
                # Prometheus 3 stores classic-histogram "le" normalised to a float ("3600.0").
                af.counter("airflow_dagrun_duration_bucket", {**labels, "le": f"{float(le)}"}, rate if le >= duration else 0.0)
            af.counter("airflow_dagrun_duration_bucket", {**labels, "le": "+Inf"}, rate)
            af.counter("airflow_dagrun_duration_sum", labels, rate * duration)
            af.counter("airflow_dagrun_duration_count", labels, rate)

    # Trino: coordinator (ServiceMonitor trino-coordinator) and a worker (trino-worker).
    tc = w(Target("trino-coordinator", "trino-coordinator", "trino-coordinator", {
        "instance": f"{_pod_ip(50)}:8080", "namespace": "trino", "pod": "trino-coordinator-0", "container": "trino",
        "service": "trino-coordinator", "endpoint": "http", "cluster_name": "trino-prod"}, layer="trino"))
    tc.counter("trino_execution_name_QueryManager_CompletedQueries", {}, 1.0)
    tc.counter("trino_execution_name_QueryManager_FailedQueries", {}, 0.01)
    tc.gauge("trino_execution_name_QueryManager_RunningQueries", {}, 12)
    tc.gauge("trino_execution_name_QueryManager_QueuedQueries", {}, 2)
    tc.gauge("trino_failuredetector_name_HeartbeatFailureDetector_ActiveCount", {}, 3)
    w(Target("trino-worker", "trino-worker", "trino-worker", {
        "instance": f"{_pod_ip(51)}:8080", "namespace": "trino", "pod": "trino-worker-0", "container": "trino",
        "service": "trino-worker", "endpoint": "http", "cluster_name": "trino-prod"}, layer="trino"))

    # Iceberg exporter (ours): tables update every 10 minutes; the tables of the freshness
    # SLO stopped being updated so that they cross the 6 h limit exactly at t0.
    ic = w(Target("iceberg-exporter", "iceberg-exporter", "iceberg-exporter", {
        "instance": f"{_pod_ip(60)}:9090", "namespace": "monitoring", "pod": "iceberg-exporter-0",
        "container": "exporter", "service": "iceberg-exporter", "endpoint": "metrics"}, layer="iceberg"))
    ic.gauge("iceberg_exporter_up", {}, 1)
    for i, (db, table) in enumerate(ICEBERG_TABLES):
        labels = {"database": db, "table": table}
        ic.gauge("iceberg_table_collection_ok", labels, 1)
        ic.gauge("iceberg_table_files_count", labels, 1200 + 300 * i)
        ic.gauge("iceberg_table_small_files_count", labels, 60 + 10 * i)
        ic.gauge("iceberg_table_size_bytes", labels, (40 + 25 * i) << 30)
        ic.gauge("iceberg_table_snapshots_count", labels, 140 + i)
        if (db, table) in slo_tables:
            ic.gauge("iceberg_table_last_update_timestamp", labels, lambda t, t0=t0: min(t // 600 * 600, t0 - 21600))
        else:
            ic.gauge("iceberg_table_last_update_timestamp", labels, lambda t: t // 600 * 600)

    # MinIO cluster metrics (ServiceMonitor minio).
    mi = w(Target("minio", "minio", "minio", {
        "instance": f"{_pod_ip(70)}:9000", "namespace": "minio", "pod": "minio-0", "container": "minio",
        "service": "minio", "endpoint": "http"}, layer="storage"))
    server = "minio-0.minio.minio.svc.cluster.local:9000"
    for api, rate in (("getobject", 40.0), ("putobject", 12.0), ("listobjectsv2", 5.0)):
        labels = {"api": api, "server": server}
        mi.counter("minio_s3_requests_total", labels, rate)
        mi.counter("minio_s3_requests_errors_total", labels, rate * 0.0005)
        mi.counter("minio_s3_requests_4xx_errors_total", labels, rate * 0.0004)
        mi.counter("minio_s3_requests_5xx_errors_total", labels, rate * 0.0001)
    mi.gauge("minio_cluster_capacity_usable_total_bytes", {"server": server}, 40 << 40)
    mi.gauge("minio_cluster_capacity_usable_free_bytes", {"server": server}, 22 << 40)
    mi.gauge("minio_cluster_nodes_offline_total", {"server": server}, 0)
    mi.gauge("minio_cluster_drive_offline_total", {"server": server}, 0)

    # GitOps: Argo CD application controller and Jenkins.
    ar = w(Target("argocd", "argocd-metrics", "argocd-application-controller", {
        "instance": f"{_pod_ip(80)}:8082", "namespace": "argocd", "pod": "argocd-application-controller-0",
        "container": "argocd-application-controller", "service": "argocd-metrics", "endpoint": "metrics"}, layer="gitops"))
    for app, project in (("spark-jobs", "dataops"), ("airflow", "dataops"), ("trino", "platform"), ("minio", "platform")):
        info = {"name": app, "namespace": "argocd", "project": project, "autosync_enabled": "true",
                "repo": "https://git.dataops.internal/platform/deploy.git", "dest_server": "https://kubernetes.default.svc",
                "dest_namespace": app, "sync_status": "Synced", "health_status": "Healthy", "operation": ""}
        ar.gauge("argocd_app_info", info, 1)
        for phase, rate in (("Succeeded", 1 / 900), ("Failed", 0.0)):
            ar.counter("argocd_app_sync_total", {"name": app, "namespace": "argocd", "project": project,
                                                 "dest_server": "https://kubernetes.default.svc", "phase": phase, "dry_run": "false"}, rate)
    je = w(Target("jenkins", "jenkins", "jenkins", {
        "instance": f"{_pod_ip(90)}:8080", "namespace": "jenkins", "pod": "jenkins-0", "container": "jenkins",
        "service": "jenkins", "endpoint": "http"}, layer="gitops"))
    for job_name, ordinal in (("dataops-monitoring/main", 0), ("spark-etl/deploy", 0), ("airflow-dags/main", 0)):
        labels = {"jenkins_job": job_name, "repo": "NA", "buildable": "true"}
        je.gauge("default_jenkins_builds_last_build_result_ordinal", labels, ordinal)
        je.counter("default_jenkins_builds_duration_milliseconds_summary_count", labels, 1 / 1800)
        je.counter("default_jenkins_builds_duration_milliseconds_summary_sum", labels, 1 / 1800 * 240000)

    # Thanos: Query, Store Gateway (2), Compactor, and the sidecars behind the chart's discovery Service.
    tq = w(Target("thanos-query", "thanos-query", "thanos-query-servicemonitor", {
        "instance": f"{_pod_ip(100)}:10902", "namespace": "monitoring", "pod": "thanos-query-0", "container": "thanos-query",
        "service": "thanos-query", "endpoint": "http"}))
    tq.gauge("thanos_store_nodes_grpc_connections", {"external_labels": "", "store_type": "sidecar"}, 2)
    tq.gauge("thanos_store_nodes_grpc_connections", {"external_labels": "", "store_type": "store"}, 2)
    for handler, rate in (("query", 2.0), ("query_range", 5.0)):
        tq.counter("http_requests_total", {"code": "200", "handler": handler, "method": "get"}, rate)
        tq.counter("http_requests_total", {"code": "500", "handler": handler, "method": "get"}, rate * 0.001)
    tq.gauge("process_start_time_seconds", {}, origin)
    for i in range(2):
        ts = w(Target(f"thanos-store-{i}", "thanos-store", "thanos-store-servicemonitor", {
            "instance": f"{_pod_ip(101 + i)}:10902", "namespace": "monitoring", "pod": f"thanos-store-{i}",
            "container": "thanos-store", "service": "thanos-store", "endpoint": "http"}))
        grpc = {"grpc_service": "thanos.Store", "grpc_method": "Series", "grpc_type": "server_stream"}
        ts.counter("grpc_server_started_total", grpc, 3.0)
        ts.counter("grpc_server_handled_total", {**grpc, "grpc_code": "OK"}, 3.0)
        ts.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "get_range"}, 4.0)
        ts.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "get_range"}, 0.0)
        ts.gauge("process_start_time_seconds", {}, origin)
    tc_ = w(Target("thanos-compact", "thanos-compact", "thanos-compact-servicemonitor", {
        "instance": f"{_pod_ip(104)}:10902", "namespace": "monitoring", "pod": "thanos-compact-0",
        "container": "thanos-compact", "service": "thanos-compact", "endpoint": "http"}))
    tc_.gauge("thanos_compact_halted", {}, 0)
    tc_.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.01)
    tc_.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.0)
    for i in range(2):
        sc = w(Target(f"thanos-sidecar-{i}", "prometheus-stack-kube-prom-thanos-discovery", None, {
            "instance": f"{_pod_ip(105 + i)}:10902", "namespace": "monitoring",
            "pod": f"prometheus-prometheus-stack-kube-prom-prometheus-{i}", "container": "thanos-sidecar",
            "service": "prometheus-stack-kube-prom-thanos-discovery", "endpoint": "http"}))
        sc.gauge("thanos_sidecar_prometheus_up", {}, 1)
        sc.gauge("thanos_objstore_bucket_last_successful_upload_time", {"bucket": "dataops-thanos"}, lambda t: t // 7200 * 7200)
        sc.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.001)
        sc.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.0)

    # kube-state-metrics (the chart's ServiceMonitor: honorLabels).
    ksm = w(Target("kube-state-metrics", "kube-state-metrics", None, {
        "instance": f"{_pod_ip(110)}:8080", "namespace": "monitoring", "pod": "prometheus-stack-kube-state-metrics-0",
        "container": "kube-state-metrics", "service": "prometheus-stack-kube-state-metrics", "endpoint": "http"}))
    ksm.honor_labels = True
    for node in NODES:
        for resource, unit, alloc, cap in (("cpu", "core", 31.5, 32), ("memory", "byte", 120 << 30, 128 << 30)):
            ksm.gauge("kube_node_status_allocatable", {"node": node, "resource": resource, "unit": unit}, alloc)
            ksm.gauge("kube_node_status_capacity", {"node": node, "resource": resource, "unit": unit}, cap)
    for i, (ns, pod, container, cpu, mem) in enumerate(PODS):
        uid = f"00000000-0000-4000-8000-{i:012d}"
        node = NODES[i % len(NODES)]
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            ksm.gauge("kube_pod_status_phase", {"namespace": ns, "pod": pod, "uid": uid, "phase": phase}, 1 if phase == "Running" else 0)
        base = {"namespace": ns, "pod": pod, "uid": uid, "container": container}
        ksm.gauge("kube_pod_container_resource_limits", {**base, "node": node, "resource": "cpu", "unit": "core"}, cpu)
        ksm.gauge("kube_pod_container_resource_limits", {**base, "node": node, "resource": "memory", "unit": "byte"}, mem)
        ksm.counter("kube_pod_container_status_restarts_total", base, 0.0)
        if ns == SPARK_NS and "exec" in pod:
            world.oom_pods.append(pod)
    ksm.gauge("kube_deployment_spec_replicas", {"namespace": "trino", "deployment": "trino-worker"}, 3)
    ksm.gauge("kube_statefulset_replicas", {"namespace": "minio", "statefulset": "minio"}, 4)

    # node-exporter (one per node) and the kubelet (volume stats, cAdvisor).
    for i in range(len(NODES)):
        ne = w(Target(f"node-exporter-{i}", "node-exporter", None, {
            "instance": f"10.0.0.{11 + i}:9100", "namespace": "monitoring", "pod": f"prometheus-stack-prometheus-node-exporter-{i}",
            "container": "node-exporter", "service": "prometheus-stack-prometheus-node-exporter", "endpoint": "http-metrics"}))
        for cpu in range(4):
            for mode, rate in (("idle", 0.6), ("user", 0.3), ("system", 0.1)):
                ne.counter("node_cpu_seconds_total", {"cpu": str(cpu), "mode": mode}, rate)
        ne.gauge("node_memory_MemTotal_bytes", {}, 128 << 30)
        ne.gauge("node_memory_MemAvailable_bytes", {}, 70 << 30)
    kl = w(Target("kubelet", "kubelet", None, {
        "instance": "10.0.0.11:10250", "node": NODES[0], "metrics_path": "/metrics", "namespace": "kube-system",
        "service": "prometheus-stack-kube-prom-kubelet", "endpoint": "https-metrics"}))
    for ns, pvc, cap, used_rate in (("spark-jobs", "spark-shuffle", 500 << 30, 2000.0), ("airflow", "airflow-logs", 100 << 30, 500.0),
                                    ("trino", "trino-spill", 200 << 30, 100.0), ("minio", "data-minio-0", 2 << 40, 50000.0)):
        labels = {"namespace": ns, "persistentvolumeclaim": pvc}
        kl.gauge("kubelet_volume_stats_capacity_bytes", labels, cap)
        kl.gauge("kubelet_volume_stats_used_bytes", labels, lambda t, cap=cap, r=used_rate, o=origin: cap * 0.4 + r * (t - o))
    ca = w(Target("cadvisor", "kubelet", None, {
        "instance": "10.0.0.11:10250", "node": NODES[0], "metrics_path": "/metrics/cadvisor", "namespace": "kube-system",
        "service": "prometheus-stack-kube-prom-kubelet", "endpoint": "https-metrics"}))
    ca.path = "/metrics/cadvisor"
    kl.honor_labels = ca.honor_labels = True  # the chart's kubelet ServiceMonitor honours the pods' labels
    for i, (ns, pod, container, cpu, mem) in enumerate(PODS):
        cid = f"/kubepods/burstable/pod{i:04d}/{container}"
        labels = {"namespace": ns, "pod": pod, "container": container, "id": cid, "image": f"registry.dataops.internal/{container}:1", "name": f"k8s_{container}_{pod}"}
        ca.counter("container_cpu_usage_seconds_total", {**labels, "cpu": "total"}, cpu * 0.45)
        ca.gauge("container_memory_working_set_bytes", labels, mem * 0.55)

    # The Portal probe (Probe portal through blackbox-exporter): instance = the probed URL.
    kind, probe = rendered.monitors.get("portal", ("Probe", {}))
    urls = ((probe.get("targets") or {}).get("staticConfig") or {}).get("static") or ["https://portal.dataops.internal/healthz"]
    static_labels = ((probe.get("targets") or {}).get("staticConfig") or {}).get("labels") or {}
    for i, url in enumerate(urls):
        pt = w(Target(f"portal-{i}", (probe.get("jobName") or "portal"), "portal" if "portal" in rendered.monitors else None,
                      {"instance": url, **static_labels}))
        pt.gauge("probe_success", {}, 1)
        pt.gauge("probe_duration_seconds", {}, 0.18)

    # Optional domains: only when their critical alert is rendered.
    if "HiveMetastoreDown" in alert_names:
        hm = w(Target("hive-metastore-probe", "monitoring/hive-metastore", None, {"instance": "hive-metastore.hive.svc:9083"}))
        hm.gauge("probe_success", {}, 1)
        hm.gauge("probe_duration_seconds", {}, 0.01)
    if "CephHealthError" in alert_names:
        ce = w(Target("ceph-mgr", "rook-ceph-mgr", None, {
            "instance": f"{_pod_ip(120)}:9283", "namespace": "rook-ceph", "pod": "rook-ceph-mgr-a-0",
            "service": "rook-ceph-mgr", "endpoint": "http-metrics"}))
        ce.gauge("ceph_health_status", {}, 0)
    if "OracleDatabaseDown" in alert_names:
        ora = w(Target("oracledb-exporter", "oracledb-exporter", None, {
            "instance": f"{_pod_ip(121)}:9161", "namespace": "oracle", "pod": "oracledb-exporter-0",
            "container": "oracledb-exporter", "service": "oracledb-exporter", "endpoint": "metrics"}))
        ora.gauge("oracledb_up", {"database": "DWPROD"}, 1)
    return world


def uncatalogued(world: World) -> list[str]:
    """Served names that are not in docs/metrics/*.yaml (must be empty)."""
    from tests.rules_util import load_catalog

    catalog = load_catalog()
    return sorted({f"{t.key}: {s.name}" for t in world.targets.values() for s in t.series if s.name not in catalog})


# --------------------------------------------------------------------------------------------
# Scenarios: one per critical alert
# --------------------------------------------------------------------------------------------


@dataclass
class Expect:
    alertname: str
    labels: dict[str, str] = field(default_factory=dict)
    by_design: Optional[str] = None  # why it cannot fire within the budget, when that is the design
    resolve_note: Optional[str] = None  # why the resolve may take longer than the run, when that is the design

    @property
    def key(self) -> str:
        return self.alertname + "".join(f" {k}={v}" for k, v in sorted(self.labels.items()))


@dataclass
class Scenario:
    name: str
    expects: list[Expect]
    uses: set[str]  # target keys this scenario changes (no other scenario may touch them)
    brk: Callable[[float], None]
    restore: Callable[[float], None]
    note: str
    t0: float = 0.0
    t_restore: Optional[float] = None
    deadline: float = 0.0


def _slo_fastest(expr: str) -> Optional[float]:
    """Seconds a 100 % outage needs to cross the fastest long-window threshold of a burn-rate page."""
    best = None
    for window, threshold in re.findall(r"error_ratio:rate(\d+[mhd])\{[^}]*\}\s*>\s*([0-9.]+)", expr):
        if seconds(window) >= 3600:
            t = float(threshold) * seconds(window)
            best = t if best is None else min(best, t)
    return best


def build_scenarios(world: World, alerts: list[CriticalAlert], t0: float) -> list[Scenario]:
    T = world.targets
    by_key = {a.key: a for a in alerts}
    names = {a.alertname for a in alerts}
    scenarios: list[Scenario] = []

    def slo_expect(slo: str) -> Optional[Expect]:
        alert = by_key.get(f"SLOErrorBudgetBurn slo={slo}")
        if alert is None:
            return None
        fastest = _slo_fastest(alert.expr)
        design = None
        if fastest is not None and fastest > BUDGET_S:
            design = f"a 100% outage crosses the 1h threshold after {fmt(fastest)}"
        shorts = [w for w in re.findall(r"error_ratio:rate(\d+[mhd])\{", alert.expr) if seconds(w) < 3600]
        note = f"by design: a burn-rate page clears when the outage has left its short windows (up to {max(shorts, key=seconds)})" if shorts else None
        return Expect("SLOErrorBudgetBurn", {"slo": slo}, by_design=design, resolve_note=note)

    if "SparkJobFailureSpike" in names:
        op = T["spark-operator"]
        fail = op.find("spark_application_failure_count", namespace=SPARK_NS)[0]
        ok = op.find("spark_application_success_count", namespace=SPARK_NS)[0]
        state: dict[str, float] = {}

        def brk(t):
            state["before"] = fail.value.at(t)
            fail.value.jump(t, 8)  # a batch of applications fails at once ...
            fail.value.set(t, 4 / 60)  # ... and they keep failing

        def restore(t):
            failed = fail.value.at(t) - state["before"]
            fail.value.set(t, 1 / 3600)
            ok.value.jump(t, 5 * failed)  # the failed applications are resubmitted and succeed
        scenarios.append(Scenario("spark-failures", [Expect("SparkJobFailureSpike")], {"spark-operator"}, brk, restore,
                                  "8 applications fail at t0, then 4/min; restore: failures stop, the failed ones rerun and succeed"))

    if "OOMKillFrequent" in names:
        ksm = T["kube-state-metrics"]
        oom_victims = world.oom_pods[:3]
        replaced: list[Series] = []

        def brk(t):
            for pod in oom_victims:
                restarts = ksm.find("kube_pod_container_status_restarts_total", pod=pod)[0]
                restarts.value.jump(t, 2)
                base = {k: restarts.labels[k] for k in ("namespace", "pod", "uid", "container")}
                s = Series("kube_pod_container_status_last_terminated_reason", {**base, "reason": "OOMKilled"}, Value(False, t, 1), born=t)
                ksm.series.append(s)
                replaced.append(s)

        def restore(t):
            # The fix rolls out: the OOM-killed pods are replaced by new ones (new names, 0 restarts).
            for s in list(ksm.series):
                if s.labels.get("pod") in oom_victims and s.died == math.inf:
                    s.died = t
                    if s.name == "kube_pod_container_status_last_terminated_reason":
                        continue
                    fresh = Series(s.name, {**s.labels, "pod": s.labels["pod"] + "-r", "uid": s.labels["uid"][:-4] + "ffff"}, Value(s.value.counter, t, 0 if s.value.counter else s.value.at(t)), born=t)
                    ksm.series.append(fresh)
        scenarios.append(Scenario("oom-kills", [Expect("OOMKillFrequent")], {"kube-state-metrics"}, brk, restore,
                                  f"{len(oom_victims)} executor pods in {SPARK_NS} OOM-killed twice each; restore: pods replaced"))

    portal_keys = [k for k in T if k.startswith("portal-")]
    if "PortalDown" in names and portal_keys:
        probe = T[portal_keys[0]]
        success = probe.find("probe_success")[0]
        scenarios.append(Scenario("portal-down", [Expect("PortalDown")], {portal_keys[0]},
                                  lambda t: success.value.set(t, 0), lambda t: success.value.set(t, 1),
                                  "the probed Portal URL fails (probe_success 0; blackbox-exporter itself up)"))

    if "ThanosQueryIsDown" in names:
        tq = T["thanos-query"]

        def brk(t):
            tq.down = True

        def restore(t):
            tq.down = False
        scenarios.append(Scenario("thanos-query-down", [Expect("ThanosQueryIsDown")], {"thanos-query"}, brk, restore,
                                  "the only Thanos Query target stops answering (up 0)"))

    if "TrinoWorkersLost" in names:
        active = T["trino-coordinator"].find("trino_failuredetector_name_HeartbeatFailureDetector_ActiveCount")[0]
        scenarios.append(Scenario("trino-workers-lost", [Expect("TrinoWorkersLost")], {"trino-coordinator"},
                                  lambda t: active.value.set(t, 0), lambda t: active.value.set(t, 3),
                                  "the coordinator sees no active worker (HeartbeatFailureDetector ActiveCount 0 of 3 replicas)"))

    if "HiveMetastoreDown" in names:
        s = T["hive-metastore-probe"].find("probe_success")[0]
        scenarios.append(Scenario("hive-metastore-down", [Expect("HiveMetastoreDown")], {"hive-metastore-probe"},
                                  lambda t, s=s: s.value.set(t, 0), lambda t, s=s: s.value.set(t, 1), "Thrift port probe fails"))
    if "CephHealthError" in names:
        s = T["ceph-mgr"].find("ceph_health_status")[0]
        scenarios.append(Scenario("ceph-health-err", [Expect("CephHealthError")], {"ceph-mgr"},
                                  lambda t, s=s: s.value.set(t, 2), lambda t, s=s: s.value.set(t, 0), "ceph_health_status HEALTH_ERR"))
    if "OracleDatabaseDown" in names:
        s = T["oracledb-exporter"].find("oracledb_up")[0]
        scenarios.append(Scenario("oracle-down", [Expect("OracleDatabaseDown")], {"oracledb-exporter"},
                                  lambda t, s=s: s.value.set(t, 0), lambda t, s=s: s.value.set(t, 1), "oracledb_up 0 (exporter up)"))

    pipeline = slo_expect("pipeline-latency")
    if pipeline:
        af = T["airflow-statsd"]
        fast = [s for s in af.find("airflow_dagrun_duration_bucket", status="success") if s.labels["le"] != "+Inf" and float(s.labels["le"]) < 5400]
        sums = af.find("airflow_dagrun_duration_sum", status="success")

        def brk(t):
            for s in fast:
                s.value.set(t, 0.0)  # every DAG run now takes 90 minutes: none lands at or below 1 h
            for s in sums:
                s.value.set(t, 5400 / 60)

        def restore(t):
            for s in fast:
                s.value.set(t, 1 / 60 if float(s.labels["le"]) >= 1500 else 0.0)
            for s in sums:
                s.value.set(t, 1500 / 60)
        scenarios.append(Scenario("pipeline-latency-slo", [pipeline], {"airflow-statsd"}, brk, restore,
                                  "from t0 every DAG run takes 90 min (100% of runs miss the 1 h objective)"))

    freshness = slo_expect("data-freshness")
    if freshness:
        scenarios.append(Scenario("data-freshness-slo", [freshness], {"iceberg-exporter"}, lambda t: None, lambda t: None,
                                  f"the SLO tables {', '.join('.'.join(x) for x in world.slo_tables)} got their last snapshot "
                                  "6 h before t0: at t0 they cross the freshness limit (100% stale); no restore within the run"))

    platform = [Expect(n) for n in ("DataOpsPlatformDown",) if n in names]
    slo_platform = slo_expect("platform-availability")
    if slo_platform:
        platform.append(slo_platform)
    if platform:
        used = set().union(*(s.uses for s in scenarios)) if scenarios else set()
        outage = [t for t in T.values() if t.layer and t.key not in used]
        kept = sorted(t.key for t in T.values() if t.layer and t.key in used)

        def brk(t):
            for v in outage:
                v.down = True

        def restore(t):
            for v in outage:
                v.down = False
        layers = {t.layer for t in T.values() if t.layer}
        avail = sum((sum(1 for t in T.values() if t.layer == layer and t.key in used) / sum(1 for t in T.values() if t.layer == layer)) for layer in layers) / len(layers)
        scenarios.append(Scenario("platform-outage", platform, {v.key for v in outage}, brk, restore,
                                  f"every platform-layer target stops answering except {', '.join(kept) or 'none'} "
                                  f"(inputs of concurrent scenarios): availability {avail:.2f}"))
    for s in scenarios:
        s.t0 = t0
    return scenarios


# --------------------------------------------------------------------------------------------
# Measuring: which notification is which alert, at which receiver
# --------------------------------------------------------------------------------------------


def _pd_matches(n: Notification, expect: Expect) -> bool:
    payload = n.body.get("payload") or {}
    summary = payload.get("summary", "")
    if f"] {expect.alertname}:" not in summary and not summary.rstrip().endswith(f"] {expect.alertname}"):
        return False
    return all(v in summary for v in expect.labels.values())


def _slack_matches(n: Notification, expect: Expect) -> bool:
    for att in n.body.get("attachments") or []:
        title, text = att.get("title", ""), att.get("text", "")
        if f"] {expect.alertname} (" in title and "`critical`" in text and all(v in title + text for v in expect.labels.values()):
            return True
    return False


def _slack_firing(n: Notification) -> bool:
    return any("FIRING" in (a.get("title") or "") for a in n.body.get("attachments") or [])


@dataclass
class Result:
    expect: Expect
    scenario: Scenario
    detected: Optional[float] = None
    resolved: Optional[float] = None
    dedup_key: Optional[str] = None
    receivers: set[str] = field(default_factory=set)
    routing_key_ok: Optional[bool] = None
    resolve_window: float = 0.0

    @property
    def verdict(self) -> str:
        if self.detected is None:
            if self.receivers:
                return "WRONG RECEIVER"
            return "NOT FIRED (by design)" if self.expect.by_design else "MISSED"
        if "pagerduty" not in self.receivers:
            return "WRONG RECEIVER"
        if self.detected > BUDGET_S:
            return "MISSED"
        if self.routing_key_ok is False:
            return "BAD ROUTING KEY"
        return "ok"

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def update_results(results: list[Result], receivers: dict[str, StandIn], routing_key: Optional[str]) -> None:
    pd = receivers["pagerduty"].snapshot()
    slack = receivers["slack"].snapshot()
    deadman = receivers["deadman"].snapshot()
    for r in results:
        t0 = r.scenario.t0
        if r.detected is None:
            for n in pd:
                if n.t >= t0 and n.body.get("event_action") == "trigger" and _pd_matches(n, r.expect):
                    r.detected = n.t - t0
                    r.dedup_key = n.body.get("dedup_key")
                    r.receivers.add("pagerduty")
                    if routing_key is not None:
                        r.routing_key_ok = n.body.get("routing_key") == routing_key
                    break
        for n in slack:
            if n.t >= t0 and _slack_firing(n) and _slack_matches(n, r.expect):
                r.receivers.add(f"slack {n.body.get('channel', '')}".strip())
        for n in deadman:
            if n.t >= t0 and r.expect.alertname in json.dumps(n.body, ensure_ascii=False):
                r.receivers.add("deadman")
        if r.detected is not None and r.resolved is None and r.scenario.t_restore is not None:
            for n in pd:
                if n.t >= r.scenario.t_restore and n.body.get("event_action") == "resolve" and n.body.get("dedup_key") == r.dedup_key:
                    r.resolved = n.t - r.scenario.t_restore
                    break


def format_table(results: list[Result], missing: list[CriticalAlert]) -> str:
    head = ("alert", "budget", "detection", "resolve", "receiver", "result", "scenario")
    rows = [head]
    for r in results:
        detection = fmt(r.detected) if r.detected is not None else f"none in {fmt(r.scenario.deadline - r.scenario.t0)}"
        if r.detected is None:
            resolve = "-"
        elif r.resolved is not None:
            resolve = fmt(r.resolved)
        elif r.scenario.t_restore is None:
            resolve = "not restored"
        else:
            resolve = f"none in {fmt(r.resolve_window)}" + (" (by design)" if r.expect.resolve_note else "")
        verdict = r.verdict
        rows.append((r.expect.key, fmt(BUDGET_S), detection, resolve, ", ".join(sorted(r.receivers)) or "-", verdict, r.scenario.name))
    for a in missing:
        rows.append((a.key, fmt(BUDGET_S), "-", "-", "-", "NO SCENARIO", "-"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    notes = {}
    for r in results:
        if r.expect.by_design and r.detected is None:
            notes[f"{r.expect.key} not fired"] = r.expect.by_design
        if r.expect.resolve_note and r.detected is not None and r.resolved is None:
            notes[f"{r.expect.key} resolve"] = r.expect.resolve_note
    lines += [f"  * {k}: {v}" for k, v in notes.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Dashboards against the same Prometheus
# --------------------------------------------------------------------------------------------


def prom_api(base: str, path: str, params: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    body = json.loads(http_get(f"{base}{path}?{query}", timeout=60))
    if body.get("status") != "success":
        raise ValueError(body)
    return body["data"]


def strip_external_matchers(expr: str, external: dict[str, str], values: dict[str, str]) -> str:
    """Remove matchers on external labels, as Thanos Query does after matching them against a store.

    The dashboards' datasource is Thanos Query, which adds each store's external labels
    (cluster, environment, ...) to every series and answers ``cluster=~"dataops-prod"`` by
    selecting the stores whose external labels match. A plain Prometheus keeps external
    labels out of queries, so the check does the same: a matcher on an external label must
    match that label's value (else the query is empty) and is then removed.
    """
    for label, value in external.items():
        pattern = re.compile(r'(,\s*)?(?<![A-Za-z0-9_])' + re.escape(label) + r'\s*(=~|=|!=|!~)\s*"((?:[^"\\]|\\.)*)"(\s*,)?')

        def repl(m: re.Match, label: str = label, value: str = value) -> str:
            op, raw = m.group(2), m.group(3)
            for name, v in values.items():
                raw = raw.replace(f"${{{name}}}", v).replace(f"${name}", v)
            ok = {"=": value == raw, "!=": value != raw, "=~": re.fullmatch(raw, value) is not None, "!~": re.fullmatch(raw, value) is None}[op]
            if not ok:
                raise LookupError(f"{label}{op}{raw!r} excludes this Prometheus ({label}={value!r})")
            return "," if m.group(1) and m.group(4) else ""

        expr = pattern.sub(repl, expr)
    return expr


def substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    return expr.replace("$__rate_interval", "2m").replace("$__interval", "30s").replace("$__range", "6h")


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def variable_values(base: str, query: str, external: dict[str, str], values: dict[str, str]) -> list[str]:
    m = _LABEL_VALUES.match(query)
    if not m:
        raise ValueError(f"unsupported variable query {query!r}")
    selector, label = m.group(1), m.group(2)
    if selector:
        selector = substitute(strip_external_matchers(selector, external, values), values)
    if label in external:
        series = prom_api(base, "/api/v1/series", {"match[]": selector or "up", "start": time.time() - 3600})
        return [external[label]] if series else []
    params: dict[str, Any] = {"start": time.time() - 6 * 3600}
    if selector:
        params["match[]"] = selector
    return sorted(prom_api(base, f"/api/v1/label/{label}/values", params))


@dataclass
class PanelCheck:
    dashboard: str
    panel: str
    expr: str
    series: int
    error: Optional[str] = None
    description: str = ""


def dashboard_checks(base: str, external: dict[str, str]) -> tuple[list[PanelCheck], list[PanelCheck]]:
    """(variables, panels): every template-variable and panel query of the seven dashboards."""
    from dashboards import DASHBOARDS

    var_checks, panel_checks = [], []
    for module in DASHBOARDS:
        model = module.build()
        title = model.get("title", module.__name__)
        values: dict[str, str] = {}
        for var in (model.get("templating") or {}).get("list") or []:
            if var.get("type") != "query":
                continue
            query = var.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            try:
                found = variable_values(base, query, external, values)
                error = None
            except (LookupError, ValueError, OSError) as err:
                found, error = [], str(err)
            var_checks.append(PanelCheck(title, f"${var['name']}", query, len(found), error))
            if var.get("includeAll") or var.get("multi"):
                values[var["name"]] = var.get("allValue") or ("(" + "|".join(re.escape(v) for v in found) + ")" if found else "")
            else:
                values[var["name"]] = re.escape(found[0]) if found else ""

        def panels(items):
            for p in items:
                yield p
                yield from panels(p.get("panels") or [])

        time_from = ((model.get("time") or {}).get("from") or "now-6h").replace("now-", "")
        span = min(seconds(time_from) if re.fullmatch(r"\d+[smhdw]", time_from) else 6 * 3600, 6 * 3600)
        for panel in panels(model.get("panels") or []):
            for target in panel.get("targets") or []:
                expr = target.get("expr")
                if not expr:
                    continue
                try:
                    q = substitute(strip_external_matchers(expr, external, values), values)
                    # As Grafana: a range query over the dashboard's time range unless the target is instant.
                    if not target.get("instant"):
                        now = time.time()
                        data = prom_api(base, "/api/v1/query_range", {"query": q, "start": now - span, "end": now, "step": max(30, int(span / 720))})
                    else:
                        data = prom_api(base, "/api/v1/query", {"query": q})
                    n, error = len(data.get("result") or []), None
                except (LookupError, ValueError, OSError) as err:
                    n, error = 0, str(err)[:300]
                panel_checks.append(PanelCheck(title, panel.get("title", "?"), expr, n, error, panel.get("description") or ""))
    return var_checks, panel_checks


# A panel "says" it shows only failures when its description says it is empty when healthy.
FAILURE_ONLY = re.compile(r"\bempty\b|비어|비면", re.I)


def why_empty(expr: str, recorded: set[str], served: set[str], jobs: set[str] = frozenset()) -> str:
    """What an empty query reads that this stack cannot have: names no rendered rule records, raw names no target serves."""
    from tests.rules_util import promql_metric_names

    names = promql_metric_names(re.sub(r"\$\{?\w+\}?", "x", expr))
    missing_rules = sorted(n for n in names if ":" in n and n not in recorded)
    missing_raw = sorted(n for n in names if ":" not in n and n not in served and n not in ("up", "ALERTS"))
    parts = []
    if missing_rules:
        parts.append("no rendered rule records " + ", ".join(missing_rules))
    if missing_raw:
        parts.append("no emulated target serves " + ", ".join(missing_raw))
    for regex in re.findall(r'up\{[^}]*job=~"([^"]+)"', expr):
        if jobs and not any(re.fullmatch(regex, j) for j in jobs):
            parts.append(f"no scrape job matches job=~{regex!r} (not in this stack's emulated targets)")
    return "; ".join(parts) or "its inputs exist: the query selects nothing while healthy"


def format_dashboards(var_checks: list[PanelCheck], panel_checks: list[PanelCheck], recorded: set[str] = frozenset(),
                      served: set[str] = frozenset(), jobs: set[str] = frozenset(), later: Optional[list[PanelCheck]] = None) -> str:
    lines = []
    vars_ok = sum(1 for c in var_checks if c.series and not c.error)
    lines.append(f"Template variables with values: {vars_ok}/{len(var_checks)}")
    for c in var_checks:
        if not c.series or c.error:
            lines.append(f"  EMPTY variable  {c.dashboard} {c.panel}: {c.expr}" + (f" ({c.error})" if c.error else ""))
    ok = sum(1 for c in panel_checks if c.series and not c.error)
    lines.append(f"Panel queries with data: {ok}/{len(panel_checks)}")
    for c in panel_checks:
        if c.series and not c.error:
            continue
        says = bool(FAILURE_ONLY.search(c.description))
        kind = "empty (failure-only panel, says so)" if says and not c.error else ("ERROR" if c.error else "EMPTY (defect unless failure-only)")
        lines.append(f"  {kind}  {c.dashboard} / {c.panel}: {' '.join(c.expr.split())[:160]}" + (f" -- {c.error}" if c.error else ""))
        if not c.error:
            lines.append(f"      why: {why_empty(c.expr, set(recorded), set(served), set(jobs))}")
        again = next((x for x in later or [] if (x.dashboard, x.panel, x.expr) == (c.dashboard, c.panel, c.expr)), None)
        if again is not None:
            lines.append("      after the scenarios: " + (f"data ({again.series} series: incident still in its window, or a 5m group evaluated since)" if again.series else "still empty"))
    return "\n".join(lines)


def dashboards_ok(var_checks: list[PanelCheck], panel_checks: list[PanelCheck]) -> bool:
    return all(c.series and not c.error for c in var_checks) and all(
        (c.series and not c.error) or (not c.error and FAILURE_ONLY.search(c.description)) for c in panel_checks
    )


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

# kube-prometheus-stack's Watchdog (general.rules): always firing, routed to the heartbeat
# receiver, the dead-man's switch. Not one of our rule files: the chart deploys it.
WATCHDOG_GROUP = {"kube-prometheus-stack-general": [{"name": "general.rules", "rules": [{
    "alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "none"},
    "annotations": {"summary": "An alert that should always be firing to certify that Alertmanager is working properly."}}]}]}


@dataclass
class Stack:
    prom_url: str
    am_url: str
    receivers: dict[str, StandIn]
    world: World
    credentials: dict[str, str]
    timings: dict[str, float]
    healthy_alerts: list[str] = field(default_factory=list)  # critical alerts active / pages sent before t0


def start_stack(rendered: Rendered, work: Path, procs: Processes, servers: list, t0_delay: float,
                scrape_interval: Optional[str] = None, evaluation_interval: Optional[str] = None,
                history_s: float = HISTORY_S, rule_groups: Optional[dict[str, list[dict]]] = None,
                alertmanager_yaml: Optional[str] = None, only_targets: Optional[set[str]] = None,
                prometheus_args: tuple[str, ...] = ()) -> tuple[Stack, float]:
    """Receivers, emulated targets, backfilled Prometheus and Alertmanager. Returns (stack, planned t0)."""
    scrape_interval = scrape_interval or rendered.scrape_interval
    evaluation_interval = evaluation_interval or rendered.evaluation_interval
    timings: dict[str, float] = {}
    receivers = stand_ins()
    for r in receivers.values():
        servers.append(r.start())

    now = time.time()
    origin = now - history_s - 60
    t0 = now + t0_delay
    names = {a.alertname for a in critical_alerts(rendered)}
    world = build_world(rendered, origin, t0, names)
    if only_targets is not None:
        world.targets = {k: v for k, v in world.targets.items() if k in only_targets}
    bad = uncatalogued(world)
    if bad:
        raise SystemExit("gameday: emulated targets serve names missing from docs/metrics/*.yaml: " + ", ".join(bad))
    for t in world.targets.values():
        apply_monitor(t, rendered, scrape_interval)
        if only_targets is not None:
            t.interval = scrape_interval
    target_server = TargetServer(world.targets).start()
    servers.append(target_server)

    data_dir = work / "prometheus-data"
    data_dir.mkdir()
    if history_s > 0:
        timings.update(backfill(rendered if rule_groups is None else Rendered(rendered.stack, rule_groups, "", {}, "", "", {}),
                                list(world.targets.values()), data_dir, work, procs, now - history_s, now, evaluation_interval))

    am_yaml, credentials = alertmanager_config(alertmanager_yaml or rendered.alertmanager_yaml, work, receivers)
    (work / "alertmanager.yml").write_text(am_yaml)
    am_port = free_port()
    t = time.monotonic()
    procs.start("alertmanager", with_package_share([
        binary("alertmanager"), f"--config.file={work / 'alertmanager.yml'}", f"--storage.path={work / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
    ], "prometheus-alertmanager"), work / "alertmanager.log", f"http://127.0.0.1:{am_port}/-/ready")

    groups = dict(rule_groups if rule_groups is not None else rendered.rule_groups)
    groups.update(WATCHDOG_GROUP)
    rule_files = write_rule_files(Rendered(rendered.stack, groups, "", {}, "", "", {}), work / "rules")
    prom_port = free_port()
    config = prometheus_config(rendered, world.targets.values(), target_server.port, rule_files, am_port, prom_port, scrape_interval, evaluation_interval)
    (work / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_tool([binary("promtool"), "check", "config", str(work / "prometheus.yml")], timeout=120)
    procs.start("prometheus", [
        binary("prometheus"), f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{prom_port}", *prometheus_args,
    ], work / "prometheus.log", f"http://127.0.0.1:{prom_port}/-/ready", timeout=120)
    timings["start"] = time.monotonic() - t
    stack = Stack(f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}", receivers, world, credentials, timings)
    return stack, t0


def wait_for_scrapes(stack: Stack, timeout: float) -> None:
    """Every emulated target scraped and healthy once."""
    deadline = time.monotonic() + timeout
    expected = len(stack.world.targets)
    while time.monotonic() < deadline:
        try:
            data = prom_api(stack.prom_url, "/api/v1/targets", {"state": "active"})
            healthy = [t for t in data["activeTargets"] if t["scrapePool"].startswith("gameday-") and t["health"] == "up"]
            if len({t["scrapePool"] for t in healthy} - {"gameday-prometheus", "gameday-alertmanager"}) >= expected:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(1)
    raise RuntimeError(f"not every emulated target was scraped within {timeout}s")


def run_scenarios(stack: Stack, scenarios: list[Scenario], max_end: float, detect_window: float, resolve_window: float) -> list[Result]:
    """Break every scenario at its t0; restore each once all its alerts paged (or ``detect_window``
    passed); wait up to ``resolve_window`` after a restore for the resolve notifications."""
    results = [Result(e, s) for s in scenarios for e in s.expects]
    routing_key = next((v for k, v in stack.credentials.items() if "pagerduty" in k), None)
    t0 = min(s.t0 for s in scenarios)
    while time.time() < t0:
        time.sleep(min(0.5, max(0.0, t0 - time.time())))
    # The healthy state must not page: a critical alert pending/firing or a page before t0
    # would make the measurement meaningless (and is a finding of its own).
    try:
        active = prom_api(stack.prom_url, "/api/v1/query", {"query": 'ALERTS{severity="critical"}'})["result"]
    except (OSError, ValueError):
        active = []
    stack.healthy_alerts = sorted({f"{a['metric'].get('alertname')} ({a['metric'].get('alertstate')})" for a in active}
                                  | {f"page: {n.body.get('payload', {}).get('summary', '')[:80]}" for n in stack.receivers["pagerduty"].snapshot()})
    for s in scenarios:
        s.deadline = min(s.t0 + detect_window, max_end)
        s.brk(s.t0)
    log(f"t0: broke {len(scenarios)} scenarios: " + ", ".join(s.name for s in scenarios))
    while True:
        now = time.time()
        update_results(results, stack.receivers, routing_key)
        for s in scenarios:
            mine = [r for r in results if r.scenario is s]
            if s.t_restore is None and (all(r.detected is not None for r in mine) or now >= s.deadline):
                s.t_restore = now
                s.restore(now)
                log(f"{s.name}: " + ", ".join(f"{r.expect.key} {fmt(r.detected) if r.detected is not None else 'not notified'}" for r in mine) + "; restored")
        waiting = [r for r in results if r.detected is not None and r.resolved is None
                   and (r.scenario.t_restore is None or now < r.scenario.t_restore + resolve_window)]
        if all(s.t_restore is not None for s in scenarios) and not waiting:
            break
        if now >= max_end:
            for s in scenarios:
                if s.t_restore is None:
                    s.t_restore = now
                    s.restore(now)
            break
        time.sleep(0.5)
    update_results(results, stack.receivers, routing_key)
    for r in results:
        r.resolve_window = resolve_window
    return results


def wait_rule_groups(prom_url: str, since: float, timeout: float, max_interval: float = math.inf) -> list[str]:
    """Wait until every rule group (with an interval up to ``max_interval`` s) has evaluated at least
    once after ``since``; returns the ones that have not."""
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while True:
        try:
            groups = prom_api(prom_url, "/api/v1/rules", {})["groups"]
            pending = []
            for g in groups:
                if float(g.get("interval") or 0) > max_interval:
                    continue
                last = g.get("lastEvaluation", "")
                stamp = calendar.timegm(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S")) if last[:4] > "2000" else 0
                if stamp < since - 1:
                    pending.append(g["name"])
            if not pending:
                return []
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            return pending
        time.sleep(2)


def check_dashboards(stack: Stack, rendered: Rendered, first: Optional[tuple[list, list]] = None) -> tuple[str, bool]:
    """Run every dashboard query; with ``first`` (an earlier healthy run), report that one and what changed since."""
    var_checks, panel_checks = dashboard_checks(stack.prom_url, rendered.external_labels)
    later = None
    if first is not None:
        later = panel_checks
        var_checks, panel_checks = first
    recorded = {r["record"] for _, _, r in rendered.rules() if "record" in r}
    served = {s.name for t in stack.world.targets.values() for s in t.series} | {"prometheus_rule_evaluation_failures_total", "prometheus_rule_group_iterations_missed_total", "prometheus_notifications_dropped_total", "prometheus_notifications_errors_total", "alertmanager_notifications_failed_total"}
    jobs = {t.job for t in stack.world.targets.values()}
    return format_dashboards(var_checks, panel_checks, recorded, served, jobs, later), dashboards_ok(var_checks, panel_checks)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--max-minutes", type=float, default=7.5, help="cap on the scenario phase after t0 (default 7.5)")
    parser.add_argument("--detect-window", type=float, default=315.0, help="seconds after t0 to wait for a page before restoring (default 315)")
    parser.add_argument("--resolve-window", type=float, default=150.0, help="seconds after a restore to wait for the resolve (default 150)")
    parser.add_argument("--skip-dashboards", action="store_true")
    parser.add_argument("--dashboards-only", action="store_true", help="only the dashboard queries (healthy targets, every rule group evaluated once)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = parser.parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # Explicitly for SIGINT too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    started = time.monotonic()
    procs = Processes()
    servers: list = []
    work = Path(tempfile.mkdtemp(prefix="gameday-"))
    try:
        log(f"rendering stack {args.stack} under the mock engine")
        rendered = render(args.stack)
        alerts = critical_alerts(rendered)
        log(f"{len(alerts)} critical alerts in {len(rendered.rule_groups)} PrometheusRules; scrape {rendered.scrape_interval}, "
            f"evaluation {rendered.evaluation_interval}, external labels {rendered.external_labels}")
        others = {k: v for k, v in rendered.evaluators.items() if v != "prometheus"}
        if others:
            log("evaluated outside Prometheus in the cluster, here by the same Prometheus as a stand-in: "
                + ", ".join(f"{k} ({v})" for k, v in sorted(others.items())))
        stack, t0 = start_stack(rendered, work, procs, servers, t0_delay=110.0 if not args.dashboards_only else 3600.0)
        prom_started = time.time()
        log("history backfilled, servers up: " + ", ".join(f"{k} {v:.0f}" + ("" if "samples" in k else "s") for k, v in stack.timings.items()))
        gaps = history_gaps(stack.prom_url, range_read_recordings(rendered), prom_started)
        if gaps:
            raise RuntimeError(f"backfilled history missing for recorded series that rules read over windows: {gaps}")
        if args.dashboards_only:
            pending = wait_rule_groups(stack.prom_url, prom_started, timeout=330)
            text, ok = check_dashboards(stack, rendered)
            print(text + (f"\n(rule groups never evaluated: {pending})" if pending else ""))
            return 0 if ok else 1
        scenarios = build_scenarios(stack.world, alerts, t0)
        covered = {e.key for s in scenarios for e in s.expects}
        missing = [a for a in alerts if a.key not in covered]
        first = None
        if not args.skip_dashboards:
            # Healthy, before t0: every group of 1m or less has evaluated live (5m groups still
            # show their backfilled history); the empty ones are run again after the scenarios.
            pending = wait_rule_groups(stack.prom_url, prom_started, timeout=max(5.0, t0 - time.time() - 25), max_interval=60)
            # A restarted Prometheus writes ALERTS about a minute after start; the chart's
            # always-firing Watchdog is there in a running cluster, so wait for it too.
            while time.time() < t0 - 20 and not prom_api(stack.prom_url, "/api/v1/query", {"query": 'ALERTS{alertname="Watchdog"}'})["result"]:
                time.sleep(2)
            log("dashboards: every panel and template-variable query, targets healthy" + (f" (not yet evaluated: {pending})" if pending else ""))
            first = dashboard_checks(stack.prom_url, rendered.external_labels)
            if time.time() > t0:
                log("warning: the healthy dashboard check ran past t0")
        results = run_scenarios(stack, scenarios, t0 + args.max_minutes * 60, args.detect_window, args.resolve_window)
        dash_text, dash_ok = "", True
        if first is not None:
            wait_rule_groups(stack.prom_url, prom_started, timeout=30)
            dash_text, dash_ok = check_dashboards(stack, rendered, first)
        deadman = stack.receivers["deadman"].snapshot()
        watchdog = [n for n in deadman if "Watchdog" in json.dumps(n.body)]
        print()
        print(f"Game day, stack {args.stack}: production timings (scrape {rendered.scrape_interval}, evaluation "
              f"{rendered.evaluation_interval}, per-monitor scrape intervals, rendered Alertmanager config), "
              f"{len(scenarios)} scenarios in parallel from t0, {HISTORY_S / 3600:.2f} h of healthy history backfilled")
        print(format_table(results, missing))
        print()
        for s in scenarios:
            print(f"  {s.name}: {s.note}")
        print(f"Dead-man's switch stand-in: {len(watchdog)} Watchdog heartbeats" + ("" if watchdog else " (none: the heartbeat receiver reaches nothing)"))
        print("Healthy state before t0: " + ("no critical alert pending or firing, no page" if not stack.healthy_alerts
                                             else "ALREADY ALERTING: " + "; ".join(stack.healthy_alerts)))
        if dash_text:
            print()
            print(dash_text)
        print(f"Whole run: {fmt(time.monotonic() - started)}")
        # "NOT FIRED (by design)" fails the run too: a page that cannot come within 5 minutes is a finding.
        return 0 if all(r.ok for r in results) and not missing and not stack.healthy_alerts else 1
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        procs.stop_all()
        for s in servers:
            s.stop()
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
