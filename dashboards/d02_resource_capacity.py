"""02 리소스 가용량 (Resource Capacity): cluster CPU/memory, node allocatable, workload limits, PVCs."""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, CNS, Board, target

NUMBER = "02"


def build() -> dict:
    b = Board(
        NUMBER,
        "클러스터 CPU/메모리 사용률, 노드 할당 가능량, 워크로드 limit 사용률, PVC 사용률과 7일 예측 "
        "(cluster CPU/memory, node allocatable, workload limit usage, PVC usage and 7-day forecast).",
        tags=["capacity", "kubernetes"],
        variables=[
            lib.cluster_variable(),
            lib.namespace_variable(f'kube_pod_status_phase{{namespace=~"{lib.VOLUME_NAMESPACES}", {C}}}'),
        ],
    )

    b.row("클러스터 (Cluster)")
    b.add(
        lib.stat_panel(
            "CPU 사용률 (CPU usage)",
            [target(f"dataops:cluster:cpu_usage_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.7, lib.CPU_USAGE_MAX),
            "1 - idle share of all CPUs. Red above 85 % (CPUCapacityLow).",
            w=6,
        ),
        lib.stat_panel(
            "메모리 사용률 (Memory usage)",
            [target(f"dataops:cluster:memory_usage_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.8, lib.MEMORY_USAGE_MAX),
            "Memory not available over total. Red above 90 % (MemoryCapacityLow).",
            w=6,
        ),
        lib.stat_panel(
            "할당 가능 비율 (Allocatable / capacity)",
            [target(f'dataops:resource:node_allocatable_ratio{{{C}}}', "{{resource}}")],
            "percentunit",
            lib.low_is_bad(0.7, 0.85),
            "Share of node capacity left for pods after system and kube reservations, per resource.",
            w=6,
        ),
        lib.stat_panel(
            "할당 가능량 (Allocatable)",
            [
                target(f'sum(kube_node_status_allocatable{{resource="cpu", {C}}})', "CPU cores"),
            ],
            "short",
            w=3,
        ),
        lib.stat_panel(
            "할당 가능 메모리 (Allocatable memory)",
            [target(f'sum(kube_node_status_allocatable{{resource="memory", {C}}})', "memory")],
            "bytes",
            w=3,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "CPU / 메모리 사용률 추이 (CPU and memory usage)",
            [
                target(f"dataops:cluster:cpu_usage_ratio{{{C}}}", "CPU"),
                target(f"dataops:cluster:memory_usage_ratio{{{C}}}", "memory"),
            ],
            "percentunit",
            lib.high_is_bad(lib.CPU_USAGE_MAX, lib.MEMORY_USAGE_MAX),
            "Dashed lines: CPU alert at 85 %, memory alert at 90 %.",
            w=12,
            min_val=0,
            max_val=1,
        ),
        lib.table_panel(
            "노드별 할당 가능량 (Allocatable per node)",
            [
                target(f'sum by (node) (kube_node_status_allocatable{{resource="cpu", {C}}})'),
                target(f'sum by (node) (kube_node_status_allocatable{{resource="memory", {C}}})'),
                target(f'sum by (node) (kube_node_status_capacity{{resource="cpu", {C}}})'),
                target(f'sum by (node) (kube_node_status_capacity{{resource="memory", {C}}})'),
            ],
            w=12,
            rename={"Value #A": "allocatable CPU", "Value #B": "allocatable memory", "Value #C": "capacity CPU", "Value #D": "capacity memory"},
            column_units={"allocatable memory": "bytes", "capacity memory": "bytes"},
        ),
    )

    b.row("워크로드 (Workloads)")
    b.add(
        lib.timeseries_panel(
            "CPU limit 사용률 (CPU used / limits)",
            [target(f"dataops:workload:cpu_limit_usage_ratio{{{CNS}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(0.7, lib.CPU_USAGE_MAX),
            "CPU of running workload containers over their CPU limits, per namespace.",
            w=12,
            min_val=0,
        ),
        lib.timeseries_panel(
            "메모리 limit 사용률 (Memory working set / limits)",
            [target(f"dataops:workload:memory_limit_usage_ratio{{{CNS}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(0.8, lib.MEMORY_USAGE_MAX),
            "Working set of running workload containers over their memory limits, per namespace; near 100 % means OOM kills.",
            w=12,
            min_val=0,
        ),
    )

    b.row("스토리지 (Volumes)")
    b.add(
        lib.bargauge_panel(
            "PVC 사용률 (PVC usage)",
            [target(f"sort_desc(dataops:storage:volume_usage_ratio{{{CNS}}})", "{{namespace}}/{{persistentvolumeclaim}}")],
            "percentunit",
            lib.high_is_bad(0.7, lib.STORAGE_USAGE_MAX),
            "Used over capacity per PVC. Red above 85 % (StorageCapacityLow).",
            w=12,
            h=10,
            max_val=1,
        ),
        lib.table_panel(
            "7일 후 예상 사용량 (Usage forecast in 7 days)",
            [
                target(f"dataops:storage:capacity_forecast_7d{{{CNS}}}"),
                target(
                    f"dataops:storage:capacity_forecast_7d{{{CNS}}}"
                    f" / on (cluster, namespace, persistentvolumeclaim)"
                    f" (max by (cluster, namespace, persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{{{CNS}}}) > 0)"
                ),
            ],
            thresholds=lib.high_is_bad(lib.STORAGE_USAGE_MAX, 1.0),
            description="Used bytes each PVC will hold in 7 days (linear fit over 7 days) and that as a share of its capacity; red from 85 %, full at 100 %.",
            w=12,
            h=10,
            rename={"Value #A": "forecast", "Value #B": "forecast / capacity"},
            column_units={"forecast": "bytes", "forecast / capacity": "percentunit"},
            plain_columns=("forecast",),
        ),
    )
    return b.build()
