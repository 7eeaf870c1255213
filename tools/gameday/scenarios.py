"""One scenario per critical alert, and the measurement of its notifications."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional


from tools.gameday.common import BUDGET_S, fmt, seconds
from tools.gameday.rendered import CriticalAlert
from tools.gameday.targets import Series, Value
from tools.gameday.runtime import Notification, StandIn
from tools.gameday.world import MINIO_ERASURE_SETS, SPARK_NS, World


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

    if "MinIOErasureSetQuorumLost" in names:
        # The emulated MinIO (a stand-in serving catalogued names, not a MinIO server): the
        # drives of erasure set 1 go offline, so its server reports the set without write quorum.
        lost = T["minio"].find("minio_cluster_health_erasure_set_status", set=MINIO_ERASURE_SETS[-1])[0]
        scenarios.append(Scenario("minio-quorum-lost", [Expect("MinIOErasureSetQuorumLost")], {"minio"},
                                  lambda t, s=lost: s.value.set(t, 0), lambda t, s=lost: s.value.set(t, 1),
                                  f"emulated MinIO (stand-in): erasure set {MINIO_ERASURE_SETS[-1]} of pool 0 loses write quorum "
                                  "(minio_cluster_health_erasure_set_status 0); restore: its drives are back"))

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

    if "ThanosSidecarIsDown" in names:
        sidecars = [T[key] for key in sorted(T) if key.startswith("thanos-sidecar-")]

        def brk(t):
            for target in sidecars:
                target.down = True

        def restore(t):
            for target in sidecars:
                target.down = False
        scenarios.append(Scenario("thanos-sidecars-down", [Expect("ThanosSidecarIsDown")], {s.key for s in sidecars}, brk, restore,
                                  f"all {len(sidecars)} sidecar targets stop answering (up 0; absent(up == 1) as when the pods are gone)"))

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


