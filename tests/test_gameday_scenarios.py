"""tools/gameday/scenarios.py: the table of scenarios keyed by alert, without running anything.

`tests/test_gameday.py` (marked live) runs one scenario against the real binaries; here the
table is checked against the renders of the sample stacks under the mock engine only.
"""

from __future__ import annotations

import pytest

from tools.gameday.rendered import critical_alerts, from_run
from tools.gameday.scenarios import PLAY_OF_ALERT, PLAYS, build_scenarios
from tests.gameday_world import ORIGIN, T0
from tools.gameday.world import build_world


_SPARK = ("spark-failures", [("SparkJobFailureSpike", None, None)], ["spark-operator"],
          "8 applications fail at t0, then 4/min; restore: failures stop, the failed ones rerun and succeed")
_OOM = ("oom-kills", [("OOMKillFrequent", None, None)], ["kube-state-metrics"],
        "3 executor pods in spark-jobs OOM-killed twice each; restore: pods replaced")
_MINIO = ("minio-quorum-lost", [("MinIOErasureSetQuorumLost", None, None)], ["minio"],
          "emulated MinIO (stand-in): erasure set 1 of pool 0 loses write quorum (minio_cluster_health_erasure_set_status 0); restore: its drives are back")
_PORTAL = ("portal-down", [("PortalDown", None, None)], ["portal-0"],
           "the probed Portal URL fails (probe_success 0; blackbox-exporter itself up)")
_QUERY = ("thanos-query-down", [("ThanosQueryIsDown", None, None)], ["thanos-query"],
          "the only Thanos Query target stops answering (up 0)")
_SIDECARS = ("thanos-sidecars-down", [("ThanosSidecarIsDown", None, None)], ["thanos-sidecar-0", "thanos-sidecar-1"],
             "all 2 sidecar targets stop answering (up 0; absent(up == 1) as when the pods are gone)")
_TRINO = ("trino-workers-lost", [("TrinoWorkersLost", None, None)], ["trino-coordinator"],
          "the coordinator sees no active worker (HeartbeatFailureDetector ActiveCount 0 of 3 replicas)")
_PLATFORM = (
    "platform-outage",
    [("DataOpsPlatformDown", None, None),
     ("SLOErrorBudgetBurn slo=platform-availability", None, "by design: a burn-rate page clears when the outage has left its short windows (up to 30m)")],
    ["airflow-statsd", "argocd", "iceberg-exporter", "jenkins", "spark-jvm-0", "spark-jvm-1", "spark-jvm-2", "spark-jvm-3", "spark-jvm-4", "trino-worker"],
    "every platform-layer target stops answering except minio, spark-operator, trino-coordinator (inputs of concurrent scenarios): availability 0.28",
)
# What the former chain of `if "<Alert>" in names:` (tools/gameday/scenarios.py at 439964b)
# built for the sample stacks, world from ORIGIN to T0: printed once from that function with
# the fields below (name, expects as (key, by_design, resolve_note), sorted uses, note), not
# written by hand. The table must give the same scenarios in the same order.
BEFORE_THE_TABLE = {
    "prod": [_SPARK, _OOM, _MINIO, _PORTAL, _QUERY, _SIDECARS, _TRINO, _PLATFORM],
    "staging": [_SPARK, _OOM, _MINIO, _QUERY, _SIDECARS, _TRINO, _PLATFORM],
}


@pytest.fixture
def rendered(prod_run, staging_run):
    return lambda stack: from_run(stack, {"prod": prod_run, "staging": staging_run}[stack])


def scenarios_of(rendered):
    alerts = critical_alerts(rendered)
    world = build_world(rendered, ORIGIN, T0, {a.alertname for a in alerts})
    return alerts, build_scenarios(world, alerts, T0)


def test_every_critical_alert_prod_deploys_has_a_row_and_exactly_one_scenario(rendered):
    alerts, scenarios = scenarios_of(rendered("prod"))
    assert alerts, "the prod stack renders no critical alert"
    assert [a.key for a in alerts if a.key not in PLAY_OF_ALERT] == [], "a critical alert prod deploys has no row in scenarios.PLAYS"
    covered = [e.key for s in scenarios for e in s.expects]
    assert sorted(covered) == sorted(a.key for a in alerts), "a critical alert without (or with two) game-day scenarios"
    for i, a in enumerate(scenarios):
        for b in scenarios[i + 1:]:
            assert not a.uses & b.uses, (a.name, b.name, a.uses & b.uses)
    assert all(s.t0 == T0 for s in scenarios)


@pytest.mark.parametrize("stack", sorted(BEFORE_THE_TABLE))
def test_the_table_builds_the_scenarios_the_if_chain_built(rendered, stack):
    _, scenarios = scenarios_of(rendered(stack))
    now = [(s.name, [(e.key, e.by_design, e.resolve_note) for e in s.expects], sorted(s.uses), s.note) for s in scenarios]
    assert now == BEFORE_THE_TABLE[stack]


def test_each_alert_has_one_row_and_scenario_names_are_unique():
    alerts = [alert for play in PLAYS for alert in play.alerts]
    assert len(alerts) == len(set(alerts)) == len(PLAY_OF_ALERT)
    assert len({play.scenario for play in PLAYS}) == len(PLAYS)
    assert PLAYS[-1].scenario == "platform-outage", "the outage must come last: it spares what the other scenarios change"
