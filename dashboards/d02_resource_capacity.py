"""02 리소스 가용량 (Resource Capacity): cluster CPU/memory, node allocatable, workload limits, PVCs,
and the storage layers under the platform (Ceph pools, Oracle tablespaces, PowerScale /ifs).

The storage layers read only their recording rules (rules/{ceph,oracle,powerscale}.rules.yaml)
and sit in collapsed rows named by the layer, left out of stacks without that layer (Inputs.parts).
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, CNS, Board, target, Inputs, T

NUMBER = "02"


def build(inputs: Inputs) -> dict:
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
            lib.high_is_bad(0.7, T.cpu_usage_max()),
            f"1 - idle share of all CPUs. Red above {lib.pct(T.cpu_usage_max())} (CPUCapacityLow).",
            w=6,
        ),
        lib.stat_panel(
            "메모리 사용률 (Memory usage)",
            [target(f"dataops:cluster:memory_usage_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.8, T.memory_usage_max()),
            f"Memory not available over total. Red above {lib.pct(T.memory_usage_max())} (MemoryCapacityLow).",
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
            lib.high_is_bad(T.cpu_usage_max(), T.memory_usage_max()),
            f"Dashed lines: CPU alert at {lib.pct(T.cpu_usage_max())}, memory alert at {lib.pct(T.memory_usage_max())}.",
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
            lib.high_is_bad(0.7, T.cpu_usage_max()),
            "CPU of running workload containers over their CPU limits, per namespace.",
            w=12,
            min_val=0,
        ),
        lib.timeseries_panel(
            "메모리 limit 사용률 (Memory working set / limits)",
            [target(f"dataops:workload:memory_limit_usage_ratio{{{CNS}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(0.8, T.memory_usage_max()),
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
            lib.high_is_bad(0.7, T.storage_usage_max()),
            f"Used over capacity per PVC. Red above {lib.pct(T.storage_usage_max())} (StorageCapacityLow).",
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
            thresholds=lib.high_is_bad(T.storage_usage_max(), 1.0),
            description=f"Used bytes each PVC will hold in 7 days (linear fit over 7 days) and that as a share of its capacity; red from {lib.pct(T.storage_usage_max())}, full at 100 %.",
            w=12,
            h=10,
            rename={"Value #A": "forecast", "Value #B": "forecast / capacity"},
            column_units={"forecast": "bytes", "forecast / capacity": "percentunit"},
            plain_columns=("forecast",),
        ),
    )
    if inputs.shows("ceph"):
        _ceph(b)
    if inputs.shows("oracle"):
        _oracle(b)
    if inputs.shows("powerscale"):
        _powerscale(b)
    return b.build()


def _ceph(b: Board) -> None:
    pool_max = T.ceph_pool_max()
    b.collapsed_row(
        "Ceph",
        lib.bargauge_panel(
            "Ceph 풀 사용률 (Ceph pool fill)",
            [target(f"sort_desc(dataops:ceph:pool_used_ratio{{{C}}})", "{{namespace}}/{{name}}")],
            "percentunit",
            lib.high_is_bad(0.7, pool_max),
            f"Stored over stored + MAX AVAIL per pool (%USED of ceph df). Red above {lib.pct(pool_max)} (CephPoolNearlyFull).",
            w=12,
            h=8,
            max_val=1,
        ),
        lib.timeseries_panel(
            "Ceph 풀 사용률 추이 (Ceph pool fill over time)",
            [target(f"topk(10, dataops:ceph:pool_used_ratio{{{C}}})", "{{namespace}}/{{name}}")],
            "percentunit",
            lib.high_is_bad(0.7, pool_max),
            f"Ten fullest pools; dashed line = CephPoolNearlyFull ({lib.pct(pool_max)}).",
            w=12,
            h=8,
            min_val=0,
            max_val=1,
        ),
        lib.stat_panel(
            "Ceph 상태 (Ceph health)",
            [target(f"max(dataops:ceph:health_status{{{C}}})")],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW), (2, lib.RED)),
            "Worst Ceph cluster: HEALTH_OK, HEALTH_WARN or HEALTH_ERR (CephHealthError).",
            w=8,
            mappings=lib.value_text({"0": ("HEALTH_OK", lib.GREEN), "1": ("HEALTH_WARN", lib.YELLOW), "2": ("HEALTH_ERR", lib.RED)}),
        ),
        lib.stat_panel(
            "다운된 OSD (OSDs down)",
            [target(f"sum(dataops:ceph:osds_down{{{C}}})")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            w=8,
            decimals=0,
        ),
        lib.stat_panel(
            "Out 된 OSD (OSDs out)",
            [target(f"sum(dataops:ceph:osds_out{{{C}}})")],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW)),
            w=8,
            decimals=0,
        ),
    )


def _oracle(b: Board) -> None:
    ts_max = T.oracle_tablespace_max()
    b.collapsed_row(
        "Oracle",
        lib.bargauge_panel(
            "Oracle 테이블스페이스 사용률 (Tablespace fill, PERMANENT)",
            [target(f'topk(20, dataops:oracle:tablespace_used_ratio{{type="PERMANENT", {C}}})', "{{database}}/{{tablespace}}")],
            "percentunit",
            lib.high_is_bad(0.8, ts_max),
            f"Used bytes over the size each tablespace can reach (autoextend MAXSIZE included), twenty fullest. "
            f"Red above {lib.pct(ts_max)} (OracleTablespaceNearlyFull).",
            w=12,
            h=8,
            max_val=1,
        ),
        lib.timeseries_panel(
            "UNDO / TEMP 사용률 (UNDO and TEMP fill)",
            [target(f'dataops:oracle:tablespace_used_ratio{{type=~"UNDO|TEMPORARY", {C}}}', "{{database}}/{{tablespace}}")],
            "percentunit",
            description="UNDO and TEMP fill up and drain by design (no alert); a line stuck at 100 % means sessions wait for space.",
            w=12,
            h=8,
            min_val=0,
            max_val=1,
        ),
    )


def _powerscale(b: Board) -> None:
    ifs_max = T.powerscale_capacity_max()
    b.collapsed_row(
        "PowerScale",
        lib.bargauge_panel(
            "PowerScale 용량 사용률 (PowerScale /ifs capacity used)",
            [target(f"dataops:powerscale:capacity_used_ratio{{{C}}}", "{{isilon_cluster}}")],
            "percentunit",
            lib.high_is_bad(0.75, ifs_max),
            f"Share of /ifs in use per PowerScale cluster. Red above {lib.pct(ifs_max)} (PowerScaleCapacityLow).",
            w=8,
            h=8,
            max_val=1,
        ),
        lib.timeseries_panel(
            "PowerScale 용량 추이 (PowerScale capacity over time)",
            [target(f"dataops:powerscale:capacity_used_ratio{{{C}}}", "{{isilon_cluster}}")],
            "percentunit",
            lib.high_is_bad(0.75, ifs_max),
            f"Dashed line = PowerScaleCapacityLow ({lib.pct(ifs_max)}).",
            w=10,
            h=8,
            min_val=0,
            max_val=1,
        ),
        lib.stat_panel(
            "다운된 노드 (Nodes down)",
            [target(f"sum(dataops:powerscale:nodes_down{{{C}}})")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "PowerScale nodes down over all clusters (PowerScaleNodesDown).",
            w=6,
            h=8,
            decimals=0,
        ),
    )
