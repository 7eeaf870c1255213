"""00 메인 네비게이션 (Main Navigation): where to go next, and is the platform healthy right now."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge

from dashboards import lib
from dashboards.lib import C, INDEX, Board, target, Inputs, T

NUMBER = "00"


def _navigation_markdown() -> str:
    lines = ["| # | 대시보드 (Dashboard) | 보는 것 (What it shows) |", "|---|---|---|"]
    what = {
        "01": "Argo CD sync/health, Jenkins builds",
        "02": "Cluster CPU/memory, allocatable, workload limits, PVCs, 7-day forecast",
        "03": "Spark, Airflow, Trino: running, success, failures, durations",
        "04": "Iceberg tables (size, files, snapshots, small files, freshness), S3/MinIO",
        "05": "Top GC apps, small-file tables, OOM kills, restarts, scrape and rule health",
        "06": "SLO error budgets and multiwindow burn rates, end-to-end path",
    }
    for number, info in INDEX.items():
        if number == NUMBER:
            continue
        lines.append(f"| {number} | [{info.title_ko} ({info.title_en})]({info.path}?${{__url_time_range}}&${{datasource:queryparam}}&${{cluster:queryparam}}) | {what[number]} |")
    return "\n".join(lines)


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "DataOps 플랫폼 전체 상태와 다른 대시보드로 가는 길 (platform health at a glance, links to every DataOps dashboard).",
        tags=["navigation", "slo"],
        variables=[lib.cluster_variable()],
    )
    b.add(lib.text_panel("DataOps 대시보드 (Dashboards)", _navigation_markdown(), w=24, h=8))

    b.row("플랫폼 가용성 (Platform availability)")
    b.add(
        lib.stat_panel(
            "플랫폼 가용성 (Platform availability)",
            [target(f"dataops:platform:availability{{{C}}}", "platform")],
            "percentunit",
            lib.low_is_bad(T.platform_availability_min(), 0.99),
            f"Mean of the per-layer share of scrape targets up. Red below {lib.pct(T.platform_availability_min())} (DataOpsPlatformDown).",
            w=6,
            h=6,
            decimals=2,
        ),
        lib.bargauge_panel(
            "계층별 가용성 (Availability by layer)",
            [target(f"dataops:platform:availability:by_layer{{{C}}}", "{{layer}}")],
            "percentunit",
            lib.low_is_bad(T.platform_availability_min(), 0.99),
            "Share of scrape targets up per layer; a layer with no target at all reads 0.",
            w=10,
            h=6,
            max_val=1,
        ),
        lib.stat_panel(
            "발생 중인 알림 (Firing alerts)",
            [
                target(f'count(ALERTS{{alertstate="firing", severity="critical", {C}}}) or vector(0)', "critical"),
                target(f'count(ALERTS{{alertstate="firing", severity="high", {C}}}) or vector(0)', "high"),
                target(f'count(ALERTS{{alertstate="firing", severity!~"critical|high", {C}}}) or vector(0)', "other"),
            ],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "Alerts firing now, by severity (Prometheus' ALERTS series).",
            w=8,
            h=6,
            decimals=0,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "계층별 가용성 추이 (Availability by layer over time)",
            [target(f"dataops:platform:availability:by_layer{{{C}}}", "{{layer}}")],
            "percentunit",
            lib.low_is_bad(T.platform_availability_min()),
            w=12,
            min_val=0,
            max_val=1,
        ),
        lib.table_panel(
            "발생 중인 알림 목록 (Firing alerts)",
            [target(f'count by (alertname, severity) (ALERTS{{alertstate="firing", {C}}})')],
            "short",
            description="Firing alert rules and how many series each fires for; empty = no alert firing (healthy).",
            w=12,
            rename={"Value": "series"},
        ),
    )
    if inputs.shows("service_probes"):
        b.add(_service_health())

    b.row("SLO 에러 버짓 & 용량 (Error budget and capacity)")
    b.add(
        lib.bargauge_panel(
            "남은 에러 버짓 (Error budget remaining)",
            [target(f"dataops:slo:error_budget_remaining{{{C}}}", "{{slo}}")],
            "percentunit",
            lib.low_is_bad(inputs.error_budget_min, 0.5),
            f"Share of each SLO's error budget left over its window. Red below {lib.pct(inputs.error_budget_min)} (SLOErrorBudgetExhausted). Negative = overspent.",
            w=12,
            h=6,
            min_val=None,
            max_val=1,
        ),
        lib.stat_panel(
            "CPU 사용률 (Cluster CPU)",
            [target(f"dataops:cluster:cpu_usage_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.7, T.cpu_usage_max()),
            f"Red above {lib.pct(T.cpu_usage_max())} (CPUCapacityLow).",
            w=6,
            h=6,
        ),
        lib.stat_panel(
            "메모리 사용률 (Cluster memory)",
            [target(f"dataops:cluster:memory_usage_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.8, T.memory_usage_max()),
            f"Red above {lib.pct(T.memory_usage_max())} (MemoryCapacityLow).",
            w=6,
            h=6,
        ),
    )
    return b.build()


def _service_health() -> bargauge.Panel:
    """Each service's own health-endpoint probes (portal.rules.yaml), where the stack has them."""
    return lib.bargauge_panel(
        "서비스 헬스 체크 (Service health checks)",
        [target(f"dataops:service:availability{{{C}}}", "{{service}} ({{layer}})")],
        "percentunit",
        lib.low_is_bad(T.platform_availability_min(), 0.99),
        "Share of each service's own health-endpoint probes that succeed (the probe*Url settings; "
        "ServiceHealthCheckFailing pages on a probe failing for 5m). Where a layer has such probes, the "
        "platform availability above reads them instead of exporter targets. Shown only in stacks that "
        "set service probes.",
        w=24,
        h=5,
        max_val=1,
    )
