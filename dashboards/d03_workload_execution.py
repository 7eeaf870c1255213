"""03 워크로드 실행 (Workload Execution): Spark, Airflow and Trino, from their recording rules.

Airflow's recording rules aggregate over the statsd_exporter (no namespace label), so the
Airflow row follows ``$cluster`` only; Spark and Trino follow ``$namespace`` too.
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, CNS, Board, target, Inputs, T

NUMBER = "03"

# Spark pods only (the JVM rules also cover the Hive Metastore and Bitbucket): spark_role is
# "driver" or "executor", from the Spark PodMonitor (components/spark).
SPARK_JVM = f'{CNS}, spark_role!=""'


def _jvm_rows(b: Board) -> None:
    """Heap used/max and GC time of Spark drivers and executors (rules/jvm.rules.yaml)."""
    heap_max = T.jvm_heap_max()
    heap = f"dataops:jvm:heap_used_ratio{{{SPARK_JVM}}}"
    b.row("Spark JVM 메모리 (Driver and executor heap, GC)")
    b.add(
        lib.stat_panel(
            "힙 압박 JVM (JVMs over the heap alert)",
            [target(f"count({heap} > {heap_max:g}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            f"Spark drivers and executors whose used heap is above {lib.pct(heap_max)} of -Xmx now; "
            "JvmHeapPressure fires when one stays there for 15 min.",
            w=4,
            h=8,
            decimals=0,
        ),
        *(
            lib.timeseries_panel(
                title,
                [target(f'topk(10, max by (namespace, spark_app_id) (dataops:jvm:heap_used_ratio{{{SPARK_JVM}, spark_role="{role}"}}))', "{{namespace}}/{{spark_app_id}}")],
                "percentunit",
                lib.high_is_bad(0.8, heap_max),
                f"Heap in use over the maximum heap (-Xmx), {what}, ten highest applications; "
                f"dashed line = JvmHeapPressure ({lib.pct(heap_max)}).",
                w=10,
                min_val=0,
                max_val=1,
            )
            for role, title, what in (
                ("driver", "드라이버 힙 사용률 (Driver heap used / max)", "per driver"),
                ("executor", "익스큐터 힙 사용률 (Executor heap used / max, worst executor)", "worst executor of each application"),
            )
        ),
    )
    b.add(
        lib.timeseries_panel(
            "GC 시간 비율 (GC time ratio, worst JVM per application and role)",
            [
                target(
                    f"topk(10, max by (namespace, spark_app_id, spark_role) (dataops:jvm:gc_time_ratio{{{SPARK_JVM}}}))",
                    "{{namespace}}/{{spark_app_id}} {{spark_role}}",
                )
            ],
            "percentunit",
            description="Share of wall time a JVM spends in garbage collection (all collectors, 5 min). "
            "High GC time with heap near the limit: more executor memory or fewer cores per executor.",
            w=12,
            min_val=0,
        ),
        lib.table_panel(
            "힙 사용률 상위 JVM (Top JVMs by heap used)",
            [
                target(f"topk(10, {heap})"),
                target(f"dataops:jvm:gc_time_ratio{{{SPARK_JVM}}} and on (namespace, pod, container) topk(10, {heap})"),
            ],
            thresholds=lib.high_is_bad(0.8, heap_max),
            description=f"The ten Spark JVMs with the fullest heap and their GC time ratio; red above {lib.pct(heap_max)} (JvmHeapPressure).",
            w=12,
            hide=("Time", "__name__"),
            rename={"Value #A": "heap used / max", "Value #B": "GC time"},
            column_units={"heap used / max": "percentunit", "GC time": "percentunit"},
            plain_columns=("GC time",),
        ),
    )


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "Spark 애플리케이션, Airflow DAG, Trino 쿼리의 실행 현황 (Spark applications, Airflow DAG runs, Trino queries).",
        tags=["workloads", "spark", "airflow", "trino"],
        variables=[
            lib.cluster_variable(),
            lib.namespace_variable(f'kube_pod_status_phase{{namespace=~"{lib.WORKLOAD_NAMESPACES}", {C}}}'),
        ],
    )

    b.row("Spark")
    b.add(
        lib.stat_panel(
            "실행 중인 앱 (Running applications)",
            [target(f"sum(dataops:spark:running_applications{{{CNS}}}) or vector(0)")],
            "short",
            w=6,
            decimals=0,
        ),
        lib.stat_panel(
            "성공률 24h (Success rate, 24 h)",
            [target(f"dataops:spark:success_rate_24h{{{C}}}")],
            "percentunit",
            lib.low_is_bad(1 - T.spark_failure_max(), 0.95),
            f"COMPLETED over COMPLETED + FAILED applications finished in 24 h (all namespaces). Red below {lib.pct(1 - T.spark_failure_max())}.",
            w=6,
            no_value="nothing finished",
        ),
        lib.timeseries_panel(
            "실패율 10m (Failure ratio, 10 min)",
            [target(f"dataops:spark:failure_ratio_10m{{{CNS}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(None, T.spark_failure_max()),
            f"FAILED over finished applications in 10 min per namespace; the dashed line is the failure-spike alert ({lib.pct(T.spark_failure_max())}).",
            w=12,
            h=8,
            min_val=0,
            max_val=1,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "실행 중인 앱 추이 (Running applications)",
            [target(f"dataops:spark:running_applications{{{CNS}}}", "{{namespace}}")],
            "short",
            w=8,
            stacked=True,
        ),
        lib.timeseries_panel(
            "평균 실행 시간 (Mean application duration, 1 h)",
            [target(f"dataops:spark:app_duration_avg_by_namespace{{{CNS}}}", "{{namespace}} {{status}}")],
            "s",
            description="Mean submission-to-termination time of applications that finished in the last hour, per namespace and final status.",
            w=8,
        ),
        lib.timeseries_panel(
            "GC 시간 상위 앱 (GC seconds per second, top 10)",
            [target(f"topk(10, dataops:spark:gc_seconds_per_second{{{CNS}}})", "{{namespace}}/{{spark_app_id}}")],
            "s",
            lib.high_is_bad(0.5, 1),
            "Seconds spent in GC per second, summed over the driver and all executors of an application.",
            w=8,
        ),
    )

    b.row("Airflow")
    b.add(
        lib.stat_panel(
            "DAG 성공률 24h (DAG run success, 24 h)",
            [target(f"dataops:airflow:dag_success_rate_24h{{{C}}}")],
            "percentunit",
            lib.low_is_bad(0.8, 0.95),
            "Successful over finished DAG runs in the last 24 h.",
            w=6,
            no_value="no runs",
        ),
        lib.stat_panel(
            "스케줄러 하트비트 5m (Scheduler heartbeats, 5 min)",
            [target(f"dataops:airflow:scheduler_heartbeats:increase5m{{{C}}}")],
            "short",
            lib.steps(lib.RED, (1, lib.GREEN)),
            "Heartbeats in the last 5 min. 0 = scheduler stuck; no value = statsd_exporter not scraped.",
            w=6,
            decimals=0,
            no_value="no data",
        ),
        lib.timeseries_panel(
            "풀 여유 슬롯 (Pool open slots)",
            [target(f"dataops:airflow:pool_open_slots{{{C}}}", "{{pool}}")],
            "short",
            w=12,
            h=8,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "DAG 실행 시간 P95 (DAG run duration p95, 1 h)",
            [target(f"topk(10, dataops:airflow:dagrun_duration_seconds:p95_1h{{{C}}})", "{{dag_id}}")],
            "s",
            lib.high_is_bad(None, T.PIPELINE_LATENCY_MAX_S),
            f"95th percentile of successful DAG run durations in the last hour, ten slowest DAGs; dashed line = the {lib.duration_text(T.PIPELINE_LATENCY_MAX_S)} pipeline-latency SLO.",
            w=12,
        ),
        lib.timeseries_panel(
            "태스크 실패 (Task failures per second)",
            [target(f"topk(10, dataops:airflow:task_failures:rate5m{{{C}}} > 0)", "{{dag_id}}")],
            "ops",
            None,
            "Failing Airflow tasks per second, ten DAGs with most failures. Empty = no task failed (healthy).",
            w=12,
        ),
    )

    b.row("Trino")
    b.add(
        lib.stat_panel(
            "실행 중인 쿼리 (Running queries)",
            [target(f"sum(dataops:trino:running_queries{{{CNS}}}) or vector(0)")],
            "short",
            w=6,
            decimals=0,
        ),
        lib.stat_panel(
            "워커 가용성 (Worker availability)",
            [target(f"min(dataops:trino:worker_availability{{{CNS}}})")],
            "percentunit",
            lib.low_is_bad(0.5, T.trino_workers_min()),
            "Active workers over the worker replicas Kubernetes is asked to run (worst cluster).",
            w=6,
        ),
        lib.timeseries_panel(
            "쿼리 실패율 5m (Query failure rate)",
            [
                target(f"dataops:trino:platform_failure_rate_5m{{{CNS}}}", "{{namespace}} platform"),
                target(f"dataops:trino:query_failure_rate_5m{{{CNS}}}", "{{namespace}} all (with user errors)"),
            ],
            "percentunit",
            lib.high_is_bad(0.05, T.trino_failure_max()),
            "Finished queries that failed in the last 5 min, per Trino cluster: by the platform's fault "
            "(internal, external, insufficient resources; TrinoQueryFailureRatioHigh, red line) and all failures, user errors included.",
            w=12,
            min_val=0,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "쿼리 (Running and queued queries)",
            [
                target(f"dataops:trino:running_queries{{{CNS}}}", "{{namespace}} running"),
                target(f"sum by (cluster, namespace) (trino_execution_name_QueryManager_QueuedQueries{{{CNS}}})", "{{namespace}} queued"),
            ],
            "short",
            w=12,
        ),
        lib.timeseries_panel(
            "워커 가용성 추이 (Worker availability)",
            [target(f"dataops:trino:worker_availability{{{CNS}}}", "{{namespace}}")],
            "percentunit",
            lib.low_is_bad(0.5, T.trino_workers_min()),
            w=12,
            min_val=0,
        ),
    )
    # Last, so the panel ids of the rows above stay what links and bookmarks know.
    _jvm_rows(b)
    return b.build()
