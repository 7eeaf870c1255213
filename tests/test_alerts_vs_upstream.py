"""docs/alerts-vs-upstream.md stays in step with the rule files and the upstream rule sets.

- every upstream alert of a component we deploy has a row with a decision (ours / chart /
  without) and nothing else has one;
- an `ours` row names alerts our rule files define, a `chart` row names alerts the chart ships;
- the policy table places every one of our alerts, with the rule file's severity, and names no
  alert we do not have;
- the Thanos and platform runbooks say why their severity (`왜 <severity>:`);
- the Prometheus/Alertmanager copies of the chart's rules are gone.

The upstream names below were read at the versions we deploy (see the page's source table); a
version bump means re-reading them, and this list with them.
"""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

DOC = ROOT / "docs" / "alerts-vs-upstream.md"
RUNBOOKS = ROOT / "docs" / "runbooks"
DECISIONS = ("ours", "chart", "without")
SEVERITY_ORDER = ["critical", "high", "medium"]

# thanos-io/thanos v0.42.4 examples/alerts/alerts.yaml, in file order.
THANOS_MIXIN = (
    "ThanosCompactMultipleRunning", "ThanosCompactHalted", "ThanosCompactHighCompactionFailures",
    "ThanosCompactBucketHighOperationFailures", "ThanosCompactHasNotRun",
    "ThanosQueryHttpRequestQueryErrorRateHigh", "ThanosQueryHttpRequestQueryRangeErrorRateHigh",
    "ThanosQueryGrpcServerErrorRate", "ThanosQueryGrpcClientErrorRate", "ThanosQueryHighDNSFailures",
    "ThanosQueryInstantLatencyHigh", "ThanosQueryRangeLatencyHigh", "ThanosQueryOverload",
    "ThanosReceiveHttpRequestErrorRateHigh", "ThanosReceiveHttpRequestLatencyHigh",
    "ThanosReceiveHighReplicationFailures", "ThanosReceiveHighForwardRequestFailures",
    "ThanosReceiveHighHashringFileRefreshFailures", "ThanosReceiveConfigReloadFailure", "ThanosReceiveNoUpload",
    "ThanosReceiveLimitsConfigReloadFailure", "ThanosReceiveLimitsHighMetaMonitoringQueriesFailureRate",
    "ThanosReceiveTenantLimitedByHeadSeries",
    "ThanosSidecarBucketOperationsFailed", "ThanosSidecarNoConnectionToStartedPrometheus",
    "ThanosStoreGrpcErrorRate", "ThanosStoreSeriesGateLatencyHigh", "ThanosStoreBucketHighOperationFailures",
    "ThanosStoreObjstoreOperationLatencyHigh",
    "ThanosRuleQueueIsDroppingAlerts", "ThanosRuleSenderIsFailingAlerts", "ThanosRuleHighRuleEvaluationFailures",
    "ThanosRuleHighRuleEvaluationWarnings", "ThanosRuleRuleEvaluationLatencyHigh", "ThanosRuleGrpcErrorRate",
    "ThanosRuleConfigReloadFailure", "ThanosRuleQueryHighDNSFailures", "ThanosRuleAlertmanagerHighDNSFailures",
    "ThanosRuleNoEvaluationFor10Intervals", "ThanosNoRuleEvaluations",
    "ThanosBucketReplicateErrorRate", "ThanosBucketReplicateRunLatency",
    "ThanosCompactIsDown", "ThanosQueryIsDown", "ThanosReceiveIsDown", "ThanosRuleIsDown",
    "ThanosSidecarIsDown", "ThanosStoreIsDown",
)
# kube-prometheus-stack 88.5.3 (helm-charts ea930baee) templates/prometheus/rules-1.14/prometheus.yaml.
CHART_PROMETHEUS = (
    "PrometheusBadConfig", "PrometheusSDRefreshFailure", "PrometheusKubernetesListWatchFailures",
    "PrometheusNotificationQueueRunningFull", "PrometheusErrorSendingAlertsToSomeAlertmanagers",
    "PrometheusNotConnectedToAlertmanagers", "PrometheusTSDBReloadsFailing", "PrometheusTSDBCompactionsFailing",
    "PrometheusNotIngestingSamples", "PrometheusDuplicateTimestamps", "PrometheusOutOfOrderTimestamps",
    "PrometheusRemoteStorageFailures", "PrometheusRemoteWriteBehind", "PrometheusRemoteWriteDesiredShards",
    "PrometheusRuleFailures", "PrometheusMissingRuleEvaluations", "PrometheusTargetLimitHit",
    "PrometheusLabelLimitHit", "PrometheusScrapeBodySizeLimitHit", "PrometheusScrapeSampleLimitHit",
    "PrometheusTargetSyncFailure", "PrometheusHighQueryLoad", "PrometheusErrorSendingAlertsToAnyAlertmanager",
)
# Same commit, rules-1.14/alertmanager.rules.yaml (AlertmanagerClusterFailedToSendAlerts twice, two severities).
CHART_ALERTMANAGER = (
    "AlertmanagerFailedReload", "AlertmanagerMembersInconsistent", "AlertmanagerFailedToSendAlerts",
    "AlertmanagerClusterFailedToSendAlerts", "AlertmanagerConfigInconsistent", "AlertmanagerClusterDown",
    "AlertmanagerClusterCrashlooping", "AlertmanagerClusterFailedPeers",
)
# MinIO docs "Monitoring and Alerting using Prometheus" (NodesOffline, DisksOffline) and
# minio/minio docs/metrics/prometheus/alerts.md (MinIOClusterTolerance).
MINIO = ("NodesOffline", "DisksOffline", "MinIOClusterTolerance")
# grafana/jsonnet-libs apache-airflow-mixin/alerts/alerts.libsonnet.
AIRFLOW_MIXIN = (
    "ApacheAirflowStarvingPoolTasks", "ApacheAirflowDAGScheduleDelayWarning",
    "ApacheAirflowDAGScheduleDelayCritical", "ApacheAirflowDAGFailures",
)
UPSTREAM = {"thanos": THANOS_MIXIN, "prometheus": CHART_PROMETHEUS, "alertmanager": CHART_ALERTMANAGER,
            "minio": MINIO, "airflow": AIRFLOW_MIXIN}
CHART_ALERTS = frozenset(CHART_PROMETHEUS + CHART_ALERTMANAGER)
# Our earlier copies of chart rules (rules/prometheus.rules.yaml): each repeated a chart rule.
CHART_DUPLICATES = {
    "PrometheusRuleEvaluationFailures": "PrometheusRuleFailures",
    "PrometheusNotificationsFailing": "PrometheusErrorSendingAlertsToAnyAlertmanager",
    "AlertmanagerNotificationsFailing": "AlertmanagerFailedToSendAlerts",
    "PrometheusRuleGroupIterationsMissed": "PrometheusMissingRuleEvaluations",
}


def our_alerts() -> dict[str, list[str]]:
    """Alert -> severities in the rule files (ordered critical, high, medium)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "rules").glob("*.rules.yaml")):
        for group in yaml.safe_load(path.read_text()).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    found.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    return {name: sorted(sev, key=SEVERITY_ORDER.index) for name, sev in found.items()}


def alerts_of(rule_file: str) -> set[str]:
    groups = yaml.safe_load((ROOT / "rules" / rule_file).read_text())["groups"]
    return {r["alert"] for g in groups for r in g["rules"] if "alert" in r}


def _rows(text: str, start: str, end: str) -> list[list[str]]:
    block = text.split(start, 1)[1].split(end, 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")][2:]  # header, rule
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([A-Z][A-Za-z0-9]+)`", cell)


def upstream_problems(text: str, ours: dict[str, list[str]]) -> list[str]:
    problems = []
    for source, names in UPSTREAM.items():
        start = f"<!-- upstream:start source={source} -->"
        if start not in text:
            problems.append(f"no upstream table for {source}")
            continue
        rows = _rows(text, start, "<!-- upstream:end -->")
        listed = [row[0] for row in rows]
        problems += [f"{source}: upstream alert {n} has no row" for n in names if n not in listed]
        problems += [f"{source}: {n} is not an upstream alert of this source" for n in listed if n not in names]
        problems += [f"{source}: {n} has more than one row" for n in set(listed) if listed.count(n) > 1]
        for row in rows:
            name, decision, covered = row[0], row[2], row[3]
            if decision not in DECISIONS:
                problems.append(f"{source}: {name}: decision {decision!r} is not one of {DECISIONS}")
            elif decision == "without" and len(covered) < 20:
                problems.append(f"{source}: {name}: 'without' needs a reason")
            elif decision in ("ours", "chart"):
                known = set(ours) if decision == "ours" else CHART_ALERTS
                named = _names(covered)
                if not named:
                    problems.append(f"{source}: {name}: '{decision}' names no alert")
                problems += [f"{source}: {name}: {n} is not {'in our rule files' if decision == 'ours' else 'a chart rule'}"
                             for n in named if n not in known]
    return problems


def policy_problems(text: str, ours: dict[str, list[str]]) -> list[str]:
    rows = _rows(text, "<!-- policy:start -->", "<!-- policy:end -->")
    placed: dict[str, str] = {}
    problems = []
    for row in rows:
        names = _names(row[0])
        if len(names) != 1:
            problems.append(f"policy row {row[0]!r} does not name one alert")
            continue
        name = names[0]
        if name in placed:
            problems.append(f"policy: {name} is placed twice")
        placed[name] = row[1]
        if name not in ours:
            problems.append(f"policy: {name} is in no rule file (stale name)")
        elif row[1] != " / ".join(ours[name]):
            problems.append(f"policy: {name} is {row[1]!r} here but {' / '.join(ours[name])!r} in the rule files")
        if len(row) < 3 or len(row[2]) < 15:
            problems.append(f"policy: {name} has no reason")
    problems += [f"policy: {name} ({' / '.join(sev)}) is in neither list" for name, sev in ours.items() if name not in placed]
    return problems


def test_every_upstream_alert_has_one_row_with_a_decision():
    assert upstream_problems(DOC.read_text(), our_alerts()) == []


def test_every_alert_of_ours_is_placed_by_the_severity_policy():
    assert policy_problems(DOC.read_text(), our_alerts()) == []


def test_the_checks_catch_a_missing_row_a_stale_name_and_a_wrong_severity():
    text, ours = DOC.read_text(), our_alerts()
    # a missing upstream row
    dropped = re.sub(r"^\| ThanosStoreIsDown \|.*\n", "", text, flags=re.M)
    assert "thanos: upstream alert ThanosStoreIsDown has no row" in upstream_problems(dropped, ours)
    # a stale name in an `ours` cell, and in the policy table
    stale = text.replace("| ours | `ThanosCompactIsDown` |", "| ours | `ThanosCompactorIsDown` |")
    assert any("ThanosCompactorIsDown is not in our rule files" in p for p in upstream_problems(stale, ours))
    planted = text.replace("| `PortalSlow` | medium |", "| `PortalSlow` | medium |\n| `PortalGone` | high | a planted alert name. |", 1)
    assert "policy: PortalGone is in no rule file (stale name)" in policy_problems(planted, ours)
    # a severity that differs from the rule file
    wrong = text.replace("| `ThanosQueryIsDown` | critical |", "| `ThanosQueryIsDown` | high |")
    assert any(p.startswith("policy: ThanosQueryIsDown is 'high'") for p in policy_problems(wrong, ours))
    # an alert of ours in neither list
    assert "policy: NewAlert (high) is in neither list" in policy_problems(text, {**ours, "NewAlert": ["high"]})
    # a decision that is not one of the three
    undecided = text.replace("| ThanosQueryOverload | warning | without |", "| ThanosQueryOverload | warning | later |")
    assert any("ThanosQueryOverload: decision 'later'" in p for p in upstream_problems(undecided, ours))


def why_problems(alert: str, text: str, severities: list[str]) -> list[str]:
    wanted = " / ".join(severities)
    if not re.search(rf"^(?:- )?왜 {re.escape(wanted)}:\s*\S", text, flags=re.M):
        return [f"{alert}.md has no '왜 {wanted}:' line"]
    return []


def test_thanos_and_platform_runbooks_say_why_their_severity():
    ours = our_alerts()
    names = alerts_of("thanos.rules.yaml") | alerts_of("platform.rules.yaml")
    problems = [p for name in sorted(names) for p in why_problems(name, (RUNBOOKS / f"{name}.md").read_text(), ours[name])]
    assert problems == []
    assert why_problems("ThanosQueryIsDown", "# ThanosQueryIsDown\n- 왜 high: planted\n", ["critical"]) != []


def test_chart_duplicates_are_gone():
    """Our copies of the chart's Prometheus/Alertmanager rules paged and posted twice per failure."""
    ours = our_alerts()
    assert not (ROOT / "rules" / "prometheus.rules.yaml").exists()
    for copy, chart_rule in CHART_DUPLICATES.items():
        assert copy not in ours and not (RUNBOOKS / f"{copy}.md").exists(), copy
        assert chart_rule in CHART_ALERTS and f"`{chart_rule}`" in DOC.read_text(), chart_rule
    # No rule of ours reads what those chart rules read, except for the Thanos Ruler (not the chart's job).
    chart_inputs = ("prometheus_rule_evaluation_failures_total", "prometheus_notifications_", "alertmanager_notifications_failed_total",
                    "prometheus_rule_group_iterations_missed_total")
    for path in sorted((ROOT / "rules").glob("*.rules.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and any(m in rule["expr"] for m in chart_inputs):
                    assert "thanos-ruler" in rule["expr"], (path.name, rule["alert"])
