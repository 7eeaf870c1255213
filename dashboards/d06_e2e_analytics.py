"""06 E2E 분석 (End-to-End Analytics): SLO error budgets, multiwindow burn rates, the path
GitOps -> workloads -> data -> storage in one view.

SLO series come from rules/slo.rules.yaml (generated from settings.slos by tools/slo_rules):
``dataops:slo:objective``, ``dataops:slo:error_ratio:rate<window>`` and
``dataops:slo:error_budget_remaining``, all labelled ``slo``. Burn rate = error ratio over the
window / (1 - objective); the dashed lines are the SLOErrorBudgetBurn factors.
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, Board, target, Inputs, T

NUMBER = "06"

S = f'slo=~"$slo", {C}'


def burn(window: str) -> str:
    return f"dataops:slo:error_ratio:rate{window}{{{S}}} / (1 - dataops:slo:objective{{{S}}})"


def _burn_panel(policy) -> object:
    """One panel per SLOErrorBudgetBurn window pair (components/slo/rules.py PAGE + TICKETS)."""
    long_w, short_w = policy.long_window, policy.short_window
    kind = "page" if policy.severity == "critical" else "ticket"
    return lib.timeseries_panel(
        f"소진 속도 {long_w}/{short_w} (Burn rate, {kind})",
        [target(burn(long_w), f"{{{{slo}}}} {long_w}"), target(burn(short_w), f"{{{{slo}}}} {short_w}")],
        "x",
        lib.high_is_bad(None, policy.factor),
        f"Burn rate over {long_w} and {short_w}; SLOErrorBudgetBurn ({policy.severity}) fires when both exceed {policy.factor:g}x.",
        w=12,
        min_val=0,
    )


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "SLO 에러 버짓과 멀티 윈도우 소진 속도, GitOps부터 스토리지까지의 전 구간 상태 "
        "(SLO error budgets and multiwindow burn rates; the end-to-end path from GitOps to storage).",
        tags=["slo", "e2e"],
        variables=[
            lib.cluster_variable(),
            lib.query_variable("slo", "SLO", f"label_values(dataops:slo:objective{{{C}}}, slo)"),
        ],
    )

    b.row("SLO")
    b.add(
        lib.table_panel(
            "SLO 요약 (SLO summary)",
            [
                target(f"dataops:slo:objective{{{S}}}"),
                target(f"dataops:slo:error_budget_remaining{{{S}}}"),
                target(burn("1h")),
                target(burn("6h")),
                target(burn("1d")),
                target(burn("3d")),
            ],
            thresholds=lib.low_is_bad(inputs.error_budget_min, 0.5),
            description=f"Objective, error budget left over the SLO window (red below {lib.pct(inputs.error_budget_min)}, SLOErrorBudgetExhausted) and burn rates.",
            w=24,
            h=7,
            hide=("Time", "__name__"),
            rename={
                "Value #A": "objective",
                "Value #B": "budget remaining",
                "Value #C": "burn 1h",
                "Value #D": "burn 6h",
                "Value #E": "burn 1d",
                "Value #F": "burn 3d",
            },
            column_units={
                "objective": "percentunit",
                "budget remaining": "percentunit",
                "burn 1h": "x",
                "burn 6h": "x",
                "burn 1d": "x",
                "burn 3d": "x",
            },
            plain_columns=("objective", "burn 1h", "burn 6h", "burn 1d", "burn 3d"),
        ),
    )
    b.add(
        lib.timeseries_panel(
            "남은 에러 버짓 추이 (Error budget remaining)",
            [target(f"dataops:slo:error_budget_remaining{{{S}}}", "{{slo}}")],
            "percentunit",
            lib.low_is_bad(inputs.error_budget_min, 0.5),
            "Share of the error budget left over each SLO's window; below 0 the SLO is violated.",
            w=24,
            max_val=1,
        ),
    )
    b.add(*(_burn_panel(p) for p in inputs.burn_rates))

    b.row("E2E 경로 (End-to-end path: GitOps → App → Data → Storage)")
    b.add(
        lib.stat_panel(
            "GitOps: Degraded 앱 (Degraded apps)",
            [target(f"sum(dataops:gitops:apps_degraded{{{C}}}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            w=4,
            decimals=0,
        ),
        lib.stat_panel(
            "App: Spark 성공률 24h (Spark success)",
            [target(f"dataops:spark:success_rate_24h{{{C}}}")],
            "percentunit",
            lib.low_is_bad(1 - T.spark_failure_max(), 0.95),
            w=4,
            no_value="nothing finished",
        ),
        lib.stat_panel(
            "App: Airflow DAG 성공률 24h (DAG success)",
            [target(f"dataops:airflow:dag_success_rate_24h{{{C}}}")],
            "percentunit",
            lib.low_is_bad(0.8, 0.95),
            w=4,
            no_value="no runs",
        ),
        lib.stat_panel(
            "App: Trino 쿼리 실패율 (Trino failures)",
            [target(f"max(dataops:trino:platform_failure_rate_5m{{{C}}})")],
            "percentunit",
            lib.high_is_bad(0.05, T.trino_failure_max()),
            "Worst Trino cluster, last 5 min: failures the platform caused (user errors left out, as TrinoQueryFailureRatioHigh).",
            w=4,
            no_value="no queries",
        ),
        lib.stat_panel(
            "Data: 작은 파일 비율 (Iceberg small files)",
            [target(f"dataops:iceberg:small_files_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.3, T.small_files_max()),
            w=4,
        ),
        lib.stat_panel(
            "Storage: S3 오류율 (S3 error ratio)",
            [target(f"dataops:s3:error_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.01, 0.05),
            w=4,
            no_value="no traffic",
        ),
    )
    b.add(
        lib.timeseries_panel(
            "계층별 가용성 (Availability by layer)",
            [
                target(f"dataops:platform:availability:by_layer{{{C}}}", "{{layer}}"),
                target(f"dataops:platform:availability{{{C}}}", "platform"),
            ],
            "percentunit",
            lib.low_is_bad(T.platform_availability_min()),
            f"Scrape-target availability of every layer and of the whole platform (DataOpsPlatformDown below {lib.pct(T.platform_availability_min())}).",
            w=24,
            min_val=0,
            max_val=1,
        ),
    )
    return b.build()
