"""05 최적화 & 트러블슈팅 (Optimization & Troubleshooting): what to tune or fix first.

Top-k tables name pods and applications on purpose (that is what an on-call engineer looks
for), bounded by topk; executor ids never appear.
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, CNS, Board, target, Inputs, T

NUMBER = "05"

# OOM kills, the same way as the OOMKillFrequent alert (rules/alerts-platform.rules.yaml):
# restarts of containers whose last termination was OOMKilled, plus containers that never
# restart (Spark executors, restartPolicy Never) seen terminated by OOMKilled in the window.
_OOM = (
    "(increase(kube_pod_container_status_restarts_total{{{sel}}}[{w}])"
    " and on (cluster, namespace, pod, container)"
    ' (kube_pod_container_status_last_terminated_reason{{reason="OOMKilled", {sel}}} == 1))'
    " or on (cluster, namespace, pod, container)"
    ' (max_over_time(kube_pod_container_status_terminated_reason{{reason="OOMKilled", {sel}}}[{w}]) == 1)'
)


def _oom(by: str, window: str) -> str:
    return f"sum by ({by}) ({_OOM.format(sel=CNS, w=window)})"


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "GC 상위 앱, 작은 파일 상위 테이블, OOM Kill, 재시작, 스크레이프/룰 평가 상태 "
        "(top GC applications, small-file tables, OOM kills, restarts, scrape and rule evaluation health).",
        tags=["troubleshooting", "optimization"],
        variables=[
            lib.cluster_variable(),
            lib.namespace_variable(f'kube_pod_status_phase{{namespace=~"{lib.WORKLOAD_NAMESPACES}", {C}}}'),
        ],
    )

    b.row("튜닝 대상 (Tuning candidates)")
    b.add(
        lib.table_panel(
            "GC 시간 상위 Spark 앱 (Top GC applications)",
            [target(f"topk(10, dataops:spark:gc_seconds_per_second{{{CNS}}})")],
            "s",
            lib.high_is_bad(0.5, 1),
            "GC seconds per second summed over the driver and executors: more executor memory or fewer cores per executor.",
            w=12,
            h=9,
            rename={"Value": "GC s/s"},
        ),
        lib.table_panel(
            "작은 파일 상위 테이블 (Tables with most small files)",
            [
                target("topk(10, max by (database, table) (dataops:iceberg:table_small_files_ratio{" + C + "}))"),
                target("max by (database, table) (iceberg_table_small_files_count{" + C + "})"),
            ],
            thresholds=lib.high_is_bad(0.3, T.small_files_max()),
            description=f"Small-file share per table (red above {lib.pct(T.small_files_max())}; IcebergSmallFilesHigh also needs 100 small files): run rewrite_data_files on these first.",
            w=12,
            h=9,
            rename={"Value #A": "small files ratio", "Value #B": "small files"},
            column_units={"small files ratio": "percentunit"},
            plain_columns=("small files",),
        ),
    )

    b.row("장애 (Failures)")
    b.add(
        lib.timeseries_panel(
            "OOM Kill (per namespace, 10 min)",
            [target(_oom("namespace", "10m"), "{{namespace}}")],
            "short",
            lib.high_is_bad(None, T.oom_kills_max()),
            f"Containers OOM-killed in the last 10 min; the dashed line is OOMKillFrequent (more than {T.oom_kills_max():g} in 10 min). Empty = no OOM kill (healthy).",
            w=12,
        ),
        lib.table_panel(
            "OOM Kill 상위 파드 (Top OOM-killed pods, 24 h)",
            [target(f"topk(20, {_oom('namespace, pod, container', '24h')})")],
            "short",
            lib.steps(lib.YELLOW, (3, lib.RED)),
            "Pods whose containers were OOM-killed in the last 24 h. Empty = no OOM kill (healthy).",
            w=12,
            rename={"Value": "OOM kills"},
        ),
    )
    b.add(
        lib.timeseries_panel(
            "컨테이너 재시작 (Container restarts per namespace)",
            [target(f"sum by (namespace) (increase(kube_pod_container_status_restarts_total{{{CNS}}}[$__rate_interval]))", "{{namespace}}")],
            "short",
            w=12,
            stacked=True,
        ),
        lib.table_panel(
            "재시작 상위 파드 (Top restarting pods, 1 h)",
            [target(f"topk(20, sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{{CNS}}}[1h])) > 0)")],
            "short",
            lib.steps(lib.YELLOW, (3, lib.RED)),
            "Pods that restarted in the last hour. Empty = no restart (healthy).",
            w=12,
            rename={"Value": "restarts"},
        ),
    )

    b.row("모니터링 상태 (Monitoring health)")
    b.add(
        lib.stat_panel(
            "다운된 타깃 (Targets down)",
            [target(f"count(up{{{C}}} == 0) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            w=6,
            h=8,
            decimals=0,
        ),
        lib.table_panel(
            "잡별 스크레이프 상태 (Scrape health by job)",
            [
                target(f"avg by (job) (up{{{C}}})"),
                target(f"count by (job) (up{{{C}}})"),
            ],
            thresholds=lib.low_is_bad(T.platform_availability_min(), 1),
            description="Share of each job's targets up, and how many targets it has.",
            w=9,
            h=8,
            rename={"Value #A": "up", "Value #B": "targets"},
            column_units={"up": "percentunit"},
            plain_columns=("targets",),
        ),
        lib.timeseries_panel(
            "룰 평가 실패 (Rule evaluation failures)",
            [
                target(f"sum by (rule_group) (increase(prometheus_rule_evaluation_failures_total{{{C}}}[$__rate_interval])) > 0", "{{rule_group}} failures"),
                target(f"sum by (rule_group) (increase(prometheus_rule_group_iterations_missed_total{{{C}}}[$__rate_interval])) > 0", "{{rule_group}} missed"),
            ],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "Rule evaluations that failed, and group iterations missed (the chart's PrometheusRuleFailures / PrometheusMissingRuleEvaluations). Empty = healthy.",
            w=9,
            h=8,
        ),
    )
    return b.build()
