"""The emulated world: targets with healthy values, named after the rendered monitors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


from tools.gameday.rendered import Rendered
from tools.gameday.targets import Target


# --------------------------------------------------------------------------------------------
# The emulated world: targets with healthy values, named after the rendered monitors
# --------------------------------------------------------------------------------------------

SPARK_NS = "spark-jobs"
NODES = ("worker-1", "worker-2", "worker-3")
# Workload pods (namespace, pod, container, cpu limit cores, memory limit bytes): what KSM,
# cAdvisor and the joins in the workload rules see.
PODS = (
    ("spark-jobs", "etl-daily-driver", "spark-kubernetes-driver", 2, 8 << 30),
    ("spark-jobs", "etl-daily-exec-1", "spark-kubernetes-executor", 4, 16 << 30),
    ("spark-jobs", "etl-daily-exec-2", "spark-kubernetes-executor", 4, 16 << 30),
    ("spark-jobs", "etl-daily-exec-3", "spark-kubernetes-executor", 4, 16 << 30),
    ("data-processing", "cdc-driver", "spark-kubernetes-driver", 2, 8 << 30),
    ("airflow", "airflow-scheduler-0", "scheduler", 2, 4 << 30),
    ("airflow", "airflow-worker-0", "worker", 4, 8 << 30),
    ("trino", "trino-coordinator-0", "trino", 8, 32 << 30),
    ("trino", "trino-worker-0", "trino", 8, 32 << 30),
    ("minio", "minio-0", "minio", 2, 8 << 30),
)
ICEBERG_TABLES = (("sales", "orders"), ("sales", "customers"), ("marketing", "campaign_events"))
DAG_BUCKETS = (60, 300, 600, 1200, 1800, 2700, 3600, 5400, 7200, 14400)
MINIO_ERASURE_SETS = ("0", "1")


def _pod_ip(i: int) -> str:
    return f"10.42.{i // 250}.{10 + i % 250}"


@dataclass
class World:
    targets: dict[str, Target]
    origin: float
    freshness_stale_at: float  # when the SLO's listed tables cross their freshness limit
    slo_tables: tuple[tuple[str, str], ...]
    oom_pods: list[str] = field(default_factory=list)
    # Target key -> the real program serving it (tools/gameday/real.py RealProgram: stop(), start()).
    programs: dict[str, Any] = field(default_factory=dict)
    # Why targets that could be real are emulated in this run (e.g. Thanos not built); "" if none.
    emulated_note: str = ""
    # What drives a real program's inputs for the scenarios (e.g. the Spark applications a real
    # spark-operator runs: tools/gameday/real_spark.py), by name.
    workloads: dict[str, Any] = field(default_factory=dict)

    def note_emulated(self, why: str) -> None:
        self.emulated_note = "; ".join(part for part in (self.emulated_note, why) if part)

    def add(self, target: Target) -> Target:
        target.origin = self.origin
        self.targets[target.key] = target
        return target


def _freshness_tables(rendered: Rendered) -> tuple[tuple[str, str], ...]:
    tables = set()
    for _, _, rule in rendered.rules():
        if rule.get("record", "").startswith("dataops:slo:error_ratio") and "iceberg_table_last_update_timestamp" in rule["expr"]:
            tables |= set(re.findall(r'iceberg_table_last_update_timestamp\{database="([^"]+)",table="([^"]+)"\}', rule["expr"]))
    return tuple(sorted(tables))


def _runs(target: Target, name: str, labels: dict[str, str], rate: float, before: int, per_run: float) -> None:
    """A DAG-run counter: ``before`` runs ended before the world's origin, then ``rate`` runs a second; each adds ``per_run``."""
    target.counter(name, labels, rate * per_run).value.jump(target.origin, before * per_run)


def build_world(rendered: Rendered, origin: float, t0: float, alert_names: set[str]) -> World:
    """Every emulated target with healthy values. ``t0``: the planned break time."""
    slo_tables = _freshness_tables(rendered)
    world = World({}, origin, t0, slo_tables)
    w = world.add

    # Spark: the operator's application counters (PodMonitor spark-operator, honorLabels) and
    # the driver/executor JVMs (PodMonitor spark-applications, jmx_exporter).
    op = w(Target("spark-operator", "monitoring/spark-operator", "spark-operator", {
        "instance": f"{_pod_ip(1)}:8080", "namespace": "spark-operator", "pod": "spark-operator-controller-0",
        "container": "spark-operator-controller", "endpoint": "metrics"}, layer="spark"))
    for ns in (SPARK_NS, "data-processing"):
        app = {"namespace": ns, "app_type": "Scala"}
        op.counter("spark_application_count", app, 2 / 60)
        op.counter("spark_application_submit_count", app, 2 / 60)
        op.gauge("spark_application_running_count", app, 4)
        op.counter("spark_application_success_count", app, 2 / 60)
        op.counter("spark_application_failure_count", app, 1 / 3600)
        op.counter("spark_application_success_execution_time_seconds_count", app, 2 / 60)
        op.counter("spark_application_success_execution_time_seconds_sum", app, 2 / 60 * 600)
        op.counter("spark_application_failure_execution_time_seconds_count", app, 1 / 3600)
        op.counter("spark_application_failure_execution_time_seconds_sum", app, 1 / 3600 * 300)
    for i, (ns, pod, container, _, _) in enumerate(p for p in PODS if p[0] in (SPARK_NS, "data-processing")):
        role = "driver" if "driver" in container else "executor"
        app_id = f"spark-{abs(hash(pod.split('-')[0])) % 10**8:08d}"
        t = w(Target(f"spark-jvm-{i}", "monitoring/spark-applications", "spark-applications", {
            "instance": f"{_pod_ip(20 + i)}:8090", "namespace": ns, "pod": pod, "container": container,
            "spark_app_id": app_id, "spark_role": role, "executor_id": "driver" if role == "driver" else pod[-1],
            "endpoint": "jmx-metrics"}, layer="spark"))
        for gc, rate in (("G1 Young Generation", 0.02), ("G1 Old Generation", 0.001)):
            t.counter("jvm_gc_collection_seconds_sum", {"gc": gc}, rate)
            t.counter("jvm_gc_collection_seconds_count", {"gc": gc}, rate * 20)
        t.gauge("jvm_memory_bytes_used", {"area": "heap"}, 3 << 30)
        t.gauge("jvm_memory_bytes_max", {"area": "heap"}, 8 << 30)

    # Airflow: statsd_exporter with our mapping (ServiceMonitor airflow-statsd-exporter).
    af = w(Target("airflow-statsd", "airflow-statsd-exporter", "airflow-statsd-exporter", {
        "instance": f"{_pod_ip(40)}:9102", "namespace": "monitoring", "pod": "airflow-statsd-exporter-0",
        "container": "statsd-exporter", "service": "airflow-statsd-exporter", "endpoint": "metrics"}, layer="airflow"))
    af.counter("airflow_scheduler_heartbeat", {}, 0.2)
    af.gauge("airflow_pool_open_slots", {"pool": "default_pool"}, 96)
    for dag in ("daily_sales", "hourly_events"):
        af.counter("airflow_ti_finish", {"dag_id": dag, "task_id": "load", "state": "success"}, 1 / 60)
        af.counter("airflow_ti_finish", {"dag_id": dag, "task_id": "load", "state": "failed"}, 0.0)
        # Healthy: runs succeed; each DAG's last failed run ended before the history (statsd_exporter
        # keeps its failed series, constant since), so AirflowDagRunFailed is silent until a scenario
        # fails a run (before: 0.5 failed runs an hour, which kept it firing in the healthy state).
        for status, rate, duration, before in (("success", 1 / 60, 1500, 0), ("failed", 0.0, 600, 1)):
            labels = {"dag_id": dag, "status": status}
            for le in DAG_BUCKETS:
                # Prometheus 3 stores classic-histogram "le" normalised to a float ("3600.0").
                _runs(af, "airflow_dagrun_duration_bucket", {**labels, "le": f"{float(le)}"}, rate, before, 1 if le >= duration else 0)
            _runs(af, "airflow_dagrun_duration_bucket", {**labels, "le": "+Inf"}, rate, before, 1)
            _runs(af, "airflow_dagrun_duration_sum", labels, rate, before, duration)
            _runs(af, "airflow_dagrun_duration_count", labels, rate, before, 1)

    # Trino: coordinator (ServiceMonitor trino-coordinator) and a worker (trino-worker).
    tc = w(Target("trino-coordinator", "trino-coordinator", "trino-coordinator", {
        "instance": f"{_pod_ip(50)}:8080", "namespace": "trino", "pod": "trino-coordinator-0", "container": "trino",
        "service": "trino-coordinator", "endpoint": "http", "cluster_name": "trino-prod"}, layer="trino"))
    tc.counter("trino_execution_name_QueryManager_CompletedQueries", {}, 1.0)
    tc.counter("trino_execution_name_QueryManager_FailedQueries", {}, 0.01)
    # The failed queries by error type (QueryManagerStats): mostly users' errors.
    for error_type, rate in (("UserErrorFailures", 0.007), ("InternalFailures", 0.002), ("ExternalFailures", 0.001), ("InsufficientResourcesFailures", 0.0)):
        tc.counter(f"trino_execution_name_QueryManager_{error_type}", {}, rate)
    tc.gauge("trino_execution_name_QueryManager_RunningQueries", {}, 12)
    tc.gauge("trino_execution_name_QueryManager_QueuedQueries", {}, 2)
    tc.gauge("trino_failuredetector_name_HeartbeatFailureDetector_ActiveCount", {}, 3)
    w(Target("trino-worker", "trino-worker", "trino-worker", {
        "instance": f"{_pod_ip(51)}:8080", "namespace": "trino", "pod": "trino-worker-0", "container": "trino",
        "service": "trino-worker", "endpoint": "http", "cluster_name": "trino-prod"}, layer="trino"))

    # Iceberg exporter (ours): tables update every 10 minutes; the tables of the freshness
    # SLO stopped being updated so that they cross the 6 h limit exactly at t0.
    ic = w(Target("iceberg-exporter", "iceberg-exporter", "iceberg-exporter", {
        "instance": f"{_pod_ip(60)}:9090", "namespace": "monitoring", "pod": "iceberg-exporter-0",
        "container": "exporter", "service": "iceberg-exporter", "endpoint": "metrics"}, layer="iceberg"))
    ic.gauge("iceberg_exporter_up", {}, 1)
    for i, (db, table) in enumerate(ICEBERG_TABLES):
        labels = {"database": db, "table": table}
        ic.gauge("iceberg_table_collection_ok", labels, 1)
        ic.gauge("iceberg_table_files_count", labels, 1200 + 300 * i)
        ic.gauge("iceberg_table_small_files_count", labels, 60 + 10 * i)
        ic.gauge("iceberg_table_size_bytes", labels, (40 + 25 * i) << 30)
        ic.gauge("iceberg_table_snapshots_count", labels, 140 + i)
        if (db, table) in slo_tables:
            ic.gauge("iceberg_table_last_update_timestamp", labels, lambda t, t0=t0: min(t // 600 * 600, t0 - 21600))
        else:
            ic.gauge("iceberg_table_last_update_timestamp", labels, lambda t: t // 600 * 600)

    # MinIO cluster metrics (ServiceMonitor minio).
    mi = w(Target("minio", "minio", "minio", {
        "instance": f"{_pod_ip(70)}:9000", "namespace": "minio", "pod": "minio-0", "container": "minio",
        "service": "minio", "endpoint": "http"}, layer="storage"))
    server = "minio-0.minio.minio.svc.cluster.local:9000"
    for api, rate in (("getobject", 40.0), ("putobject", 12.0), ("listobjectsv2", 5.0)):
        labels = {"api": api, "server": server}
        mi.counter("minio_s3_requests_total", labels, rate)
        mi.counter("minio_s3_requests_errors_total", labels, rate * 0.0005)
        mi.counter("minio_s3_requests_4xx_errors_total", labels, rate * 0.0004)
        mi.counter("minio_s3_requests_5xx_errors_total", labels, rate * 0.0001)
    mi.gauge("minio_cluster_capacity_usable_total_bytes", {"server": server}, 40 << 40)
    mi.gauge("minio_cluster_capacity_usable_free_bytes", {"server": server}, 22 << 40)
    mi.gauge("minio_cluster_nodes_offline_total", {"server": server}, 0)
    mi.gauge("minio_cluster_drive_offline_total", {"server": server}, 0)
    # One pool of two erasure sets, both with write quorum (MinIOErasureSetQuorumLost's input).
    for erasure_set in MINIO_ERASURE_SETS:
        mi.gauge("minio_cluster_health_erasure_set_status", {"server": server, "pool": "0", "set": erasure_set}, 1)

    # GitOps: Argo CD application controller and Jenkins.
    ar = w(Target("argocd", "argocd-metrics", "argocd-application-controller", {
        "instance": f"{_pod_ip(80)}:8082", "namespace": "argocd", "pod": "argocd-application-controller-0",
        "container": "argocd-application-controller", "service": "argocd-metrics", "endpoint": "metrics"}, layer="gitops"))
    for app, project in (("spark-jobs", "dataops"), ("airflow", "dataops"), ("trino", "platform"), ("minio", "platform")):
        info = {"name": app, "namespace": "argocd", "project": project, "autosync_enabled": "true",
                "repo": "https://git.dataops.internal/platform/deploy.git", "dest_server": "https://kubernetes.default.svc",
                "dest_namespace": app, "sync_status": "Synced", "health_status": "Healthy", "operation": ""}
        ar.gauge("argocd_app_info", info, 1)
        for phase, rate in (("Succeeded", 1 / 900), ("Failed", 0.0)):
            ar.counter("argocd_app_sync_total", {"name": app, "namespace": "argocd", "project": project,
                                                 "dest_server": "https://kubernetes.default.svc", "phase": phase, "dry_run": "false"}, rate)
    je = w(Target("jenkins", "jenkins", "jenkins", {
        "instance": f"{_pod_ip(90)}:8080", "namespace": "jenkins", "pod": "jenkins-0", "container": "jenkins",
        "service": "jenkins", "endpoint": "http"}, layer="gitops"))
    for job_name, ordinal in (("dataops-monitoring/main", 0), ("spark-etl/deploy", 0), ("airflow-dags/main", 0)):
        labels = {"jenkins_job": job_name, "repo": "NA", "buildable": "true"}
        je.gauge("default_jenkins_builds_last_build_result_ordinal", labels, ordinal)
        je.counter("default_jenkins_builds_duration_milliseconds_summary_count", labels, 1 / 1800)
        je.counter("default_jenkins_builds_duration_milliseconds_summary_sum", labels, 1 / 1800 * 240000)

    # Thanos: Query, Store Gateway (2), Compactor, and the sidecars behind the chart's discovery Service.
    tq = w(Target("thanos-query", "thanos-query", "thanos-query-servicemonitor", {
        "instance": f"{_pod_ip(100)}:10902", "namespace": "monitoring", "pod": "thanos-query-0", "container": "thanos-query",
        "service": "thanos-query", "endpoint": "http"}))
    tq.gauge("thanos_store_nodes_grpc_connections", {"external_labels": "", "store_type": "sidecar"}, 2)
    tq.gauge("thanos_store_nodes_grpc_connections", {"external_labels": "", "store_type": "store"}, 2)
    for handler, rate in (("query", 2.0), ("query_range", 5.0)):
        tq.counter("http_requests_total", {"code": "200", "handler": handler, "method": "get"}, rate)
        tq.counter("http_requests_total", {"code": "500", "handler": handler, "method": "get"}, rate * 0.001)
    tq.gauge("process_start_time_seconds", {}, origin)
    for i in range(2):
        ts = w(Target(f"thanos-store-{i}", "thanos-store", "thanos-store-servicemonitor", {
            "instance": f"{_pod_ip(101 + i)}:10902", "namespace": "monitoring", "pod": f"thanos-store-{i}",
            "container": "thanos-store", "service": "thanos-store", "endpoint": "http"}))
        grpc = {"grpc_service": "thanos.Store", "grpc_method": "Series", "grpc_type": "server_stream"}
        ts.counter("grpc_server_started_total", grpc, 3.0)
        ts.counter("grpc_server_handled_total", {**grpc, "grpc_code": "OK"}, 3.0)
        ts.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "get_range"}, 4.0)
        ts.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "get_range"}, 0.0)
        ts.gauge("process_start_time_seconds", {}, origin)
    tc_ = w(Target("thanos-compact", "thanos-compact", "thanos-compact-servicemonitor", {
        "instance": f"{_pod_ip(104)}:10902", "namespace": "monitoring", "pod": "thanos-compact-0",
        "container": "thanos-compact", "service": "thanos-compact", "endpoint": "http"}))
    tc_.gauge("thanos_compact_halted", {}, 0)
    tc_.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.01)
    tc_.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.0)
    for i in range(2):  # the Ruler's pods behind the operator's governing Service (job thanos-ruler-operated)
        tr = w(Target(f"thanos-ruler-{i}", "thanos-ruler-operated", "thanos-ruler-servicemonitor", {
            "instance": f"{_pod_ip(107 + i)}:10902", "namespace": "monitoring", "pod": f"thanos-ruler-dataops-{i}",
            "container": "thanos-ruler", "service": "thanos-ruler-operated", "endpoint": "web"}))
        tr.gauge("process_start_time_seconds", {}, origin)
    for i in range(2):
        sc = w(Target(f"thanos-sidecar-{i}", "prometheus-stack-kube-prom-thanos-discovery", None, {
            "instance": f"{_pod_ip(105 + i)}:10902", "namespace": "monitoring",
            "pod": f"prometheus-prometheus-stack-kube-prom-prometheus-{i}", "container": "thanos-sidecar",
            "service": "prometheus-stack-kube-prom-thanos-discovery", "endpoint": "http"}))
        sc.gauge("thanos_sidecar_prometheus_up", {}, 1)
        sc.gauge("thanos_objstore_bucket_last_successful_upload_time", {"bucket": "dataops-thanos"}, lambda t: t // 7200 * 7200)
        sc.counter("thanos_objstore_bucket_operations_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.001)
        sc.counter("thanos_objstore_bucket_operation_failures_total", {"bucket": "dataops-thanos", "operation": "upload"}, 0.0)

    # kube-state-metrics (the chart's ServiceMonitor: honorLabels).
    ksm = w(Target("kube-state-metrics", "kube-state-metrics", None, {
        "instance": f"{_pod_ip(110)}:8080", "namespace": "monitoring", "pod": "prometheus-stack-kube-state-metrics-0",
        "container": "kube-state-metrics", "service": "prometheus-stack-kube-state-metrics", "endpoint": "http"}))
    ksm.honor_labels = True
    for node in NODES:
        for resource, unit, alloc, cap in (("cpu", "core", 31.5, 32), ("memory", "byte", 120 << 30, 128 << 30)):
            ksm.gauge("kube_node_status_allocatable", {"node": node, "resource": resource, "unit": unit}, alloc)
            ksm.gauge("kube_node_status_capacity", {"node": node, "resource": resource, "unit": unit}, cap)
    for i, (ns, pod, container, cpu, mem) in enumerate(PODS):
        uid = f"00000000-0000-4000-8000-{i:012d}"
        node = NODES[i % len(NODES)]
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            ksm.gauge("kube_pod_status_phase", {"namespace": ns, "pod": pod, "uid": uid, "phase": phase}, 1 if phase == "Running" else 0)
        base = {"namespace": ns, "pod": pod, "uid": uid, "container": container}
        ksm.gauge("kube_pod_container_resource_limits", {**base, "node": node, "resource": "cpu", "unit": "core"}, cpu)
        ksm.gauge("kube_pod_container_resource_limits", {**base, "node": node, "resource": "memory", "unit": "byte"}, mem)
        ksm.counter("kube_pod_container_status_restarts_total", base, 0.0)
        if ns == SPARK_NS and "exec" in pod:
            world.oom_pods.append(pod)
    ksm.gauge("kube_deployment_spec_replicas", {"namespace": "trino", "deployment": "trino-worker"}, 3)
    ksm.gauge("kube_statefulset_replicas", {"namespace": "minio", "statefulset": "minio"}, 4)

    # node-exporter (one per node) and the kubelet (volume stats, cAdvisor).
    for i in range(len(NODES)):
        ne = w(Target(f"node-exporter-{i}", "node-exporter", None, {
            "instance": f"10.0.0.{11 + i}:9100", "namespace": "monitoring", "pod": f"prometheus-stack-prometheus-node-exporter-{i}",
            "container": "node-exporter", "service": "prometheus-stack-prometheus-node-exporter", "endpoint": "http-metrics"}))
        for cpu in range(4):
            for mode, rate in (("idle", 0.6), ("user", 0.3), ("system", 0.1)):
                ne.counter("node_cpu_seconds_total", {"cpu": str(cpu), "mode": mode}, rate)
        ne.gauge("node_memory_MemTotal_bytes", {}, 128 << 30)
        ne.gauge("node_memory_MemAvailable_bytes", {}, 70 << 30)
    kl = w(Target("kubelet", "kubelet", None, {
        "instance": "10.0.0.11:10250", "node": NODES[0], "metrics_path": "/metrics", "namespace": "kube-system",
        "service": "prometheus-stack-kube-prom-kubelet", "endpoint": "https-metrics"}))
    for ns, pvc, cap, used_rate in (("spark-jobs", "spark-shuffle", 500 << 30, 2000.0), ("airflow", "airflow-logs", 100 << 30, 500.0),
                                    ("trino", "trino-spill", 200 << 30, 100.0), ("minio", "data-minio-0", 2 << 40, 50000.0)):
        labels = {"namespace": ns, "persistentvolumeclaim": pvc}
        kl.gauge("kubelet_volume_stats_capacity_bytes", labels, cap)
        kl.gauge("kubelet_volume_stats_used_bytes", labels, lambda t, cap=cap, r=used_rate, o=origin: cap * 0.4 + r * (t - o))
    ca = w(Target("cadvisor", "kubelet", None, {
        "instance": "10.0.0.11:10250", "node": NODES[0], "metrics_path": "/metrics/cadvisor", "namespace": "kube-system",
        "service": "prometheus-stack-kube-prom-kubelet", "endpoint": "https-metrics"}))
    ca.path = "/metrics/cadvisor"
    kl.honor_labels = ca.honor_labels = True  # the chart's kubelet ServiceMonitor honours the pods' labels
    for i, (ns, pod, container, cpu, mem) in enumerate(PODS):
        cid = f"/kubepods/burstable/pod{i:04d}/{container}"
        labels = {"namespace": ns, "pod": pod, "container": container, "id": cid, "image": f"registry.dataops.internal/{container}:1", "name": f"k8s_{container}_{pod}"}
        ca.counter("container_cpu_usage_seconds_total", {**labels, "cpu": "total"}, cpu * 0.45)
        ca.gauge("container_memory_working_set_bytes", labels, mem * 0.55)

    # The Portal probe (Probe portal through blackbox-exporter): instance = the probed URL.
    kind, probe = rendered.monitors.get("portal", ("Probe", {}))
    urls = ((probe.get("targets") or {}).get("staticConfig") or {}).get("static") or ["https://portal.dataops.internal/healthz"]
    static_labels = ((probe.get("targets") or {}).get("staticConfig") or {}).get("labels") or {}
    for i, url in enumerate(urls):
        pt = w(Target(f"portal-{i}", (probe.get("jobName") or "portal"), "portal" if "portal" in rendered.monitors else None,
                      {"instance": url, **static_labels}))
        pt.gauge("probe_success", {}, 1)
        pt.gauge("probe_duration_seconds", {}, 0.18)

    # Optional domains: only when their critical alert is rendered.
    if "HiveMetastoreDown" in alert_names:
        hm = w(Target("hive-metastore-probe", "monitoring/hive-metastore", None, {"instance": "hive-metastore.hive.svc:9083"}))
        hm.gauge("probe_success", {}, 1)
        hm.gauge("probe_duration_seconds", {}, 0.01)
    if "CephHealthError" in alert_names:
        ce = w(Target("ceph-mgr", "rook-ceph-mgr", None, {
            "instance": f"{_pod_ip(120)}:9283", "namespace": "rook-ceph", "pod": "rook-ceph-mgr-a-0",
            "service": "rook-ceph-mgr", "endpoint": "http-metrics"}))
        ce.gauge("ceph_health_status", {}, 0)
    if "OracleDatabaseDown" in alert_names:
        ora = w(Target("oracledb-exporter", "oracledb-exporter", None, {
            "instance": f"{_pod_ip(121)}:9161", "namespace": "oracle", "pod": "oracledb-exporter-0",
            "container": "oracledb-exporter", "service": "oracledb-exporter", "endpoint": "metrics"}))
        ora.gauge("oracledb_up", {"database": "DWPROD"}, 1)
    return world


def uncatalogued(world: World) -> list[str]:
    """Served names that are not in docs/metrics/*.yaml (must be empty)."""
    from tests.rules_util import load_catalog

    catalog = load_catalog()
    return sorted({f"{t.key}: {s.name}" for t in world.targets.values() for s in t.series if s.name not in catalog})


