"""One scenario per critical alert, and extra non-paging checks: the table of what breaks each one
(tools/gameday/results.py measures them)."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence


from tools.gameday.common import BUDGET_S, fmt, seconds
from tools.gameday.real_airflow import RESOLVE_NOTE, SCENARIO as AIRFLOW_DAG_FAILED, dag_failed, dag_failed_needs
from tools.gameday.rendered import CriticalAlert
from tools.live_airflow import FAILING
from tools.gameday.targets import Series, Value
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
    # "critical": a page (detected at PagerDuty). Any other: an extra, non-paging check of an
    # alert a play names (``Play.extra``), detected at the Slack channel its severity routes to.
    severity: str = "critical"

    @property
    def paging(self) -> bool:
        return self.severity == "critical"

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


# --------------------------------------------------------------------------------------------
# The table: which scenario breaks which critical alert, and what it needs
# --------------------------------------------------------------------------------------------

Step = Callable[[float], None]


@dataclass(frozen=True)
class Breakage:
    """What a scenario does to its targets: break at t0, restore later, and the line the report prints."""

    brk: Step
    restore: Step
    note: str
    resolve_note: Optional[str] = None  # why the alert may stay firing past the resolve window, when by design


@dataclass(frozen=True)
class Play:
    """One row of the table: the scenario that breaks ``alerts``.

    ``alerts``: alert names, or name + labels (``SLOErrorBudgetBurn slo=...``), as
    ``CriticalAlert.key`` spells them; the scenario runs when the stack deploys one of them and
    expects each one it deploys. ``needs(world, used)``: the keys of the emulated targets it
    changes (its ``uses``; ``used``, what the scenarios before it change), or None when this
    world has nothing for it to break. ``breaks(world, keys)``: how it breaks them.
    ``extra``: a play for one alert that does not page (``alerts`` is its name): what the scenario
    expects of it; it runs when the stack deploys that alert (``build_scenarios``' ``extras``).
    """

    scenario: str
    alerts: tuple[str, ...]
    needs: Callable[[World, set[str]], Optional[list[str]]]
    breaks: Callable[[World, list[str]], Breakage]
    extra: Optional[Expect] = None


def _targets(*keys: str) -> Callable[[World, set[str]], list[str]]:
    return lambda world, used: list(keys)


def _spark_failures(world: World, keys: list[str]) -> Breakage:
    workload = world.workloads.get("spark-operator")
    if workload is not None:
        return _real_spark_failures(workload)
    op = world.targets["spark-operator"]
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
    return Breakage(brk, restore, "8 applications fail at t0, then 4/min; restore: failures stop, the failed ones rerun and succeed")


def _real_spark_failures(workload) -> Breakage:
    """The real spark-operator (tools/gameday/real_spark.py): applications really submitted, whose drivers exit 1."""
    from tools.gameday.real_spark import FAIL_EVERY_S, FAILING_BATCH, RERUNS

    def brk(t):
        workload.keep_failing(SPARK_NS)  # the armed batch's drivers exit 1 at t0 by themselves

    def restore(t):
        workload.stop_failing(RERUNS)
    return Breakage(
        brk, restore,
        f"real spark-operator: {FAILING_BATCH} SparkApplications running since before t0 whose drivers exit 1 at t0, then one "
        f"more failing application submitted every {FAIL_EVERY_S:.0f} s (spark-submit creates each driver pod; a kubelet "
        f"stand-in ends it); restore: failures stop, {RERUNS} reruns succeed",
        resolve_note="by design: the failures stay in the alert's 10-minute window; it clears once fewer than 3 are in it "
        "or successes bring the ratio to 20% or below")


def _oom_kills(world: World, keys: list[str]) -> Breakage:
    pods = world.workloads.get("kube-state-metrics")
    if pods is not None:
        victims = world.oom_pods[:3]
        return Breakage(lambda t: pods.oom_kill(victims), lambda t: pods.replace(victims),
                        f"real kube-state-metrics: {len(victims)} executor pods in {SPARK_NS} report their container OOM-killed "
                        "twice and restarted (status written as the kubelet reports it: kwok runs no container); restore: the pods "
                        "are replaced")
    ksm = world.targets["kube-state-metrics"]
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
    return Breakage(brk, restore, f"{len(oom_victims)} executor pods in {SPARK_NS} OOM-killed twice each; restore: pods replaced")


def _set(key: str, metric: str, broken: float, healthy: float, note: str, **labels: str) -> Callable[[World, list[str]], Breakage]:
    """The first ``metric`` series (with ``labels``) of target ``key`` goes to ``broken``, then back to ``healthy``."""

    def breaks(world: World, keys: list[str]) -> Breakage:
        s = world.targets[key].find(metric, **labels)[0]
        return Breakage(lambda t: s.value.set(t, broken), lambda t: s.value.set(t, healthy), note)
    return breaks


def _first_portal(world: World, used: set[str]) -> Optional[list[str]]:
    portal_keys = [k for k in world.targets if k.startswith("portal-")]
    return portal_keys[:1] or None


def _portal_down(world: World, keys: list[str]) -> Breakage:
    success = world.targets[keys[0]].find("probe_success")[0]
    return Breakage(lambda t: success.value.set(t, 0), lambda t: success.value.set(t, 1),
                    "the probed Portal URL fails (probe_success 0; blackbox-exporter itself up)")


def _down(world: World, keys: list[str]) -> tuple[Step, Step]:
    """The targets ``keys`` stop answering (up 0), then answer again. A target a real program
    serves (``world.programs``): that process is stopped (SIGTERM to its PID), then started
    again with the same flags and ports."""
    targets = [world.targets[key] for key in keys]

    def brk(t):
        for target in targets:
            if target.key in world.programs:
                world.programs[target.key].stop(t)
            else:
                target.down = True

    def restore(t):
        for target in targets:
            if target.key in world.programs:
                world.programs[target.key].start(t)
            else:
                target.down = False
    return brk, restore


def _real(world: World, keys: list[str]) -> Optional[str]:
    """What serves ``keys`` when real programs serve them all, else None."""
    programs = {world.targets[key].program for key in keys}
    return programs.pop() if len(programs) == 1 and all(key in world.programs for key in keys) else None


def _thanos_query_down(world: World, keys: list[str]) -> Breakage:
    real = _real(world, keys)
    if real:
        return Breakage(*_down(world, keys), f"the real Thanos Query process ({real}) is stopped: SIGTERM to its PID; "
                        "restore: started again with the same flags")
    return Breakage(*_down(world, keys), "the only Thanos Query target stops answering (up 0)")


def _sidecars(world: World, used: set[str]) -> list[str]:
    return [key for key in sorted(world.targets) if key.startswith("thanos-sidecar-")]


def _sidecars_down(world: World, keys: list[str]) -> Breakage:
    real = _real(world, keys)
    if real:
        return Breakage(*_down(world, keys), f"all {len(keys)} real Thanos sidecar processes ({real}) are stopped: SIGTERM to "
                        "their PIDs, their Prometheus replicas keep running (up 0: no sidecar answers); restore: started again")
    return Breakage(*_down(world, keys), f"all {len(keys)} sidecar targets stop answering (up 0; absent(up == 1) as when the pods are gone)")


def _pipeline_latency(world: World, keys: list[str]) -> Breakage:
    af = world.targets["airflow-statsd"]
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
    return Breakage(brk, restore, "from t0 every DAG run takes 90 min (100% of runs miss the 1 h objective)")


def _stale_tables(world: World, keys: list[str]) -> Breakage:
    # The world already gave the SLO tables their last snapshot 6 h before t0.
    return Breakage(lambda t: None, lambda t: None,
                    f"the SLO tables {', '.join('.'.join(x) for x in world.slo_tables)} got their last snapshot "
                    "6 h before t0: at t0 they cross the freshness limit (100% stale); no restore within the run")


def _platform_targets(world: World, used: set[str]) -> list[str]:
    """Every platform-layer target but those the scenarios before it change."""
    return [t.key for t in world.targets.values() if t.layer and t.key not in used]


def _platform_outage(world: World, keys: list[str]) -> Breakage:
    T = world.targets
    kept = sorted(t.key for t in T.values() if t.layer and t.key not in keys)
    layers = {t.layer for t in T.values() if t.layer}
    avail = sum((sum(1 for t in T.values() if t.layer == layer and t.key not in keys) / sum(1 for t in T.values() if t.layer == layer)) for layer in layers) / len(layers)
    return Breakage(*_down(world, keys), f"every platform-layer target stops answering except {', '.join(kept) or 'none'} "
                    f"(inputs of concurrent scenarios): availability {avail:.2f}")


def _airflow_dag_failed(world: World, keys: list[str]) -> Breakage:
    return Breakage(*dag_failed(world, keys))


# In this order: the platform outage comes last, it leaves alone what the others change.
PLAYS: tuple[Play, ...] = (
    Play("spark-failures", ("SparkJobFailureSpike",), _targets("spark-operator"), _spark_failures),
    Play("oom-kills", ("OOMKillFrequent",), _targets("kube-state-metrics"), _oom_kills),
    # The emulated MinIO (a stand-in serving catalogued names, not a MinIO server): the drives
    # of the last erasure set go offline, so its server reports the set without write quorum.
    Play("minio-quorum-lost", ("MinIOErasureSetQuorumLost",), _targets("minio"), _set(
        "minio", "minio_cluster_health_erasure_set_status", 0, 1,
        f"emulated MinIO (stand-in): erasure set {MINIO_ERASURE_SETS[-1]} of pool 0 loses write quorum "
        "(minio_cluster_health_erasure_set_status 0); restore: its drives are back", set=MINIO_ERASURE_SETS[-1])),
    Play("portal-down", ("PortalDown",), _first_portal, _portal_down),
    Play("thanos-query-down", ("ThanosQueryIsDown",), _targets("thanos-query"), _thanos_query_down),
    Play("thanos-sidecars-down", ("ThanosSidecarIsDown",), _sidecars, _sidecars_down),
    Play("trino-workers-lost", ("TrinoWorkersLost",), _targets("trino-coordinator"), _set(
        "trino-coordinator", "trino_failuredetector_name_HeartbeatFailureDetector_ActiveCount", 0, 3,
        "the coordinator sees no active worker (HeartbeatFailureDetector ActiveCount 0 of 3 replicas)")),
    Play("hive-metastore-down", ("HiveMetastoreDown",), _targets("hive-metastore-probe"), _set(
        "hive-metastore-probe", "probe_success", 0, 1, "Thrift port probe fails")),
    Play("ceph-health-err", ("CephHealthError",), _targets("ceph-mgr"), _set("ceph-mgr", "ceph_health_status", 2, 0, "ceph_health_status HEALTH_ERR")),
    Play("oracle-down", ("OracleDatabaseDown",), _targets("oracledb-exporter"), _set("oracledb-exporter", "oracledb_up", 0, 1, "oracledb_up 0 (exporter up)")),
    Play("pipeline-latency-slo", ("SLOErrorBudgetBurn slo=pipeline-latency",), _targets("airflow-statsd"), _pipeline_latency),
    Play("data-freshness-slo", ("SLOErrorBudgetBurn slo=data-freshness",), _targets("iceberg-exporter"), _stale_tables),
    # An extra, non-paging check (severity high): failed runs of a real Airflow DAG (tools/gameday/real_airflow.py).
    Play(AIRFLOW_DAG_FAILED, ("AirflowDagRunFailed",), dag_failed_needs, _airflow_dag_failed,
         extra=Expect("AirflowDagRunFailed", {"dag_id": FAILING}, resolve_note=RESOLVE_NOTE, severity="high")),
    Play("platform-outage", ("DataOpsPlatformDown", "SLOErrorBudgetBurn slo=platform-availability"), _platform_targets, _platform_outage),
)

# The table keyed by alert: which scenario breaks it.
PLAY_OF_ALERT: dict[str, Play] = {alert: play for play in PLAYS for alert in play.alerts}

SLO_BURN = "SLOErrorBudgetBurn"


def _expect(key: str, by_key: dict[str, CriticalAlert]) -> Expect:
    """What a scenario expects of the alert ``key``; a burn-rate page says when it cannot fire or clear in time."""
    alertname, _, label = key.partition(" ")
    if alertname != SLO_BURN:
        return Expect(alertname)
    slo = label.removeprefix("slo=")
    alert = by_key[key]
    fastest = _slo_fastest(alert.expr)
    design = None
    if fastest is not None and fastest > BUDGET_S:
        design = f"a 100% outage crosses the 1h threshold after {fmt(fastest)}"
    shorts = [w for w in re.findall(r"error_ratio:rate(\d+[mhd])\{", alert.expr) if seconds(w) < 3600]
    note = f"by design: a burn-rate page clears when the outage has left its short windows (up to {max(shorts, key=seconds)})" if shorts else None
    return Expect(SLO_BURN, {"slo": slo}, by_design=design, resolve_note=note)


def build_scenarios(world: World, alerts: list[CriticalAlert], t0: float, extras: Sequence[CriticalAlert] = ()) -> list[Scenario]:
    """The table's scenarios for the critical alerts the stack deploys, in the table's order; and
    those of the non-paging alerts among ``extras`` a play names (``Play.extra``)."""
    by_key = {a.key: a for a in alerts}
    names = {a.alertname for a in alerts}
    extra_names = {a.alertname for a in extras}
    scenarios: list[Scenario] = []
    used: set[str] = set()
    for play in PLAYS:
        # Alerts without labels are matched by name, SLO burn pages by name and slo label.
        if play.extra is not None:
            expects = [copy.deepcopy(play.extra)] if play.extra.alertname in extra_names else []
        else:
            expects = [_expect(key, by_key) for key in play.alerts if key in names or key in by_key]
        if not expects:
            continue
        keys = play.needs(world, used)
        if keys is None:
            continue
        breakage = play.breaks(world, keys)
        for expect in expects:
            expect.resolve_note = expect.resolve_note or breakage.resolve_note
        scenarios.append(Scenario(play.scenario, expects, set(keys), breakage.brk, breakage.restore, breakage.note, t0=t0))
        used |= set(keys)
    return scenarios
