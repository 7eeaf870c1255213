"""The run: start the stack, break and restore every scenario, check the dashboards."""

from __future__ import annotations

import argparse
import calendar
import json
import math
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from tools.gameday.common import HISTORY_S, fmt, log, seconds
from tools.gameday.rendered import Rendered, critical_alerts, render
from tools.gameday.targets import TargetServer, apply_monitor
from tools.gameday.runtime import prom_api, Processes, StandIn, binary, run_tool, stand_ins, with_package_share
from tools.loopback import free_port
from tools.gameday.configs import alertmanager_config, backfill, history_gaps, prometheus_config, range_read_recordings, write_rule_files
from tools.gameday.world import World, build_world, uncatalogued
from tools.gameday.real import inventory, start_real_thanos, thanos_binary
from tools.gameday.real_k8s import start_control_plane, start_real_kube_state_metrics
from tools.gameday.real_airflow import start_real_airflow
from tools.gameday.real_spark import start_real_spark_operator, workload_line
from tools.gameday.results import Result, format_table, update_results
from tools.gameday.scenarios import Scenario, build_scenarios
from tools.gameday.dashboards import dashboard_checks, dashboards_ok, format_dashboards


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
                prometheus_args: tuple[str, ...] = (), real: bool = True) -> tuple[Stack, float]:
    """Receivers, emulated targets (real programs where built, unless ``real`` is false: tools/gameday/real.py),
    backfilled Prometheus and Alertmanager. Returns (stack, planned t0)."""
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
    if real:
        start_real_thanos(world, rendered, work, procs, servers, thanos_binary())
        cluster = start_control_plane(world, work, servers)
        if cluster is not None:
            start_real_kube_state_metrics(world, rendered, cluster, work, procs)
        start_real_spark_operator(world, cluster, work, procs, servers, t0)
    else:
        world.emulated_note = "real programs switched off (--emulated)"
    target_server = TargetServer(world.targets).start()
    servers.append(target_server)

    data_dir = work / "prometheus-data"
    data_dir.mkdir()
    start_real_airflow(world, rendered, work, procs, servers, data_dir, history_s, real=real)
    if history_s > 0:
        # Up to now, not to when this function started: the real programs took a while to start,
        # and a 5m group's last backfilled sample must still be within the 5 min lookback when
        # the healthy dashboard check runs.
        end = time.time()
        timings.update(backfill(rendered if rule_groups is None else Rendered(rendered.stack, rule_groups, "", {}, "", "", {}),
                                list(world.targets.values()), data_dir, work, procs, end - history_s, end, evaluation_interval))

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
    extras = "|".join(sorted({e.alertname for s in scenarios for e in s.expects if not e.paging}))
    query = 'ALERTS{severity="critical"}' + (f' or ALERTS{{alertname=~"{extras}"}}' if extras else "")
    try:
        active = prom_api(stack.prom_url, "/api/v1/query", {"query": query})["result"]
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
    var_checks, panel_checks = dashboard_checks(stack.prom_url, rendered.external_labels, rendered.dashboards)
    later = None
    if first is not None:
        later = panel_checks
        var_checks, panel_checks = first
    from tests.rules_util import promql_metric_names

    reads: dict[str, set[str]] = {}  # record -> the names its rule reads
    slow: dict[str, str] = {}  # record -> its group's interval, when 5 min or more
    for _, group, r in rendered.rules():
        if "record" in r:
            reads.setdefault(r["record"], set()).update(promql_metric_names(r["expr"]))
            interval = group.get("interval") or rendered.evaluation_interval
            if seconds(interval) >= 300:
                slow[r["record"]] = interval
    recorded = set(reads)
    real = {n: t.program or "" for t in stack.world.targets.values() for n in t.real_names}
    served = {s.name for t in stack.world.targets.values() for s in t.series} | set(real) | {"prometheus_rule_evaluation_failures_total", "prometheus_rule_group_iterations_missed_total", "prometheus_notifications_dropped_total", "prometheus_notifications_errors_total", "alertmanager_notifications_failed_total"}
    jobs = {t.job for t in stack.world.targets.values()}
    return format_dashboards(var_checks, panel_checks, recorded, served, jobs, later, real, reads, slow), dashboards_ok(var_checks, panel_checks)


def main(argv: Optional[list[str]] = None) -> int:
    import tools.gameday as gameday

    parser = argparse.ArgumentParser(prog="python -m tools.gameday", description=gameday.__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--max-minutes", type=float, default=7.5, help="cap on the scenario phase after t0 (default 7.5)")
    parser.add_argument("--detect-window", type=float, default=315.0, help="seconds after t0 to wait for a page before restoring (default 315)")
    parser.add_argument("--resolve-window", type=float, default=150.0, help="seconds after a restore to wait for the resolve (default 150)")
    parser.add_argument("--skip-dashboards", action="store_true")
    parser.add_argument("--dashboards-only", action="store_true", help="only the dashboard queries (healthy targets, every rule group evaluated once)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    parser.add_argument("--emulated", action="store_true", help="emulate every target, also those a built program could serve")
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
        stack, t0 = start_stack(rendered, work, procs, servers, t0_delay=110.0 if not args.dashboards_only else 3600.0, real=not args.emulated)
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
        scenarios = build_scenarios(stack.world, alerts, t0, critical_alerts(rendered, "high"))
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
            first = dashboard_checks(stack.prom_url, rendered.external_labels, rendered.dashboards)
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
        print(inventory(stack.world))
        spark = workload_line(stack.world)
        if spark:
            print(spark)
        print(f"Dead-man's switch stand-in: {len(watchdog)} Watchdog heartbeats" + ("" if watchdog else " (none: the heartbeat receiver reaches nothing)"))
        print("Healthy state before t0: " + ("no critical (or extra-checked) alert pending or firing, no page" if not stack.healthy_alerts
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


