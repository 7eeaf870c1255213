"""Prometheus/Alertmanager configuration for the run, and the healthy history backfill."""

from __future__ import annotations

import math
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from tools.gameday.common import seconds
from tools.gameday.rendered import Rendered
from tools.gameday.targets import Target, labels_text
from tools.gameday.runtime import prom_api, Processes, StandIn, binary, run_tool
from tools.loopback import free_port


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
    """One scrape job per target: the emulated-target server's path for it, or the real program's
    address; either way under the target's labels (instance included, so the address never shows)."""
    out = []
    for t in targets:
        job = {
            "job_name": f"gameday-{t.key}",
            "scrape_interval": t.interval,
            "metrics_path": t.path if t.address else f"/{t.key}{t.path}",
            "honor_labels": t.honor_labels,
            "static_configs": [{"targets": [t.address or f"127.0.0.1:{port}"], "labels": {"job": t.job, **t.labels}}],
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
        if t.address:
            continue  # a real program: no history before it started
        step = seconds(t.interval)
        first = math.ceil(start / step) * step
        times = [first + i * step for i in range(int((end - first) // step) + 1) if first + i * step <= end]
        up_labels = labels_text({"job": t.job, **t.labels})
        by_name.setdefault("up", {}).setdefault(up_labels, []).extend(f"1 {ts:.3f}" for ts in times)
        count += len(times)
        for s in t.series:
            stored = t.stored_labels(s)
            if stored is None:
                continue
            name = stored.pop("__name__")
            points = [f"{s.value.at(ts):.17g} {ts:.3f}" for ts in times if s.alive(ts)]
            by_name.setdefault(name, {}).setdefault(labels_text(stored), []).extend(points)
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


