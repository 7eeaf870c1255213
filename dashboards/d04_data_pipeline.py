"""04 데이터 파이프라인 (Data Pipeline): Iceberg table health and the S3/MinIO layer under it.

Per-table series come from our Iceberg exporter (labels database, table); ``max by (database,
table)`` drops the exporter's pod/instance so a restarted or doubled exporter does not split rows.
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, Board, target, Inputs, T

NUMBER = "04"

TABLES = f'database=~"$database", {C}'


def _per_table(metric: str) -> str:
    return f"max by (database, table) ({metric}{{{TABLES}}})"


def build(inputs: Inputs) -> dict:
    b = Board(
        NUMBER,
        "Iceberg 테이블 크기/파일/스냅샷/작은 파일 비율/최신성, S3 오류율과 MinIO 용량 "
        "(Iceberg table size, files, snapshots, small files, freshness; S3 errors and MinIO capacity).",
        tags=["data", "iceberg", "s3", "minio"],
        variables=[
            lib.cluster_variable(),
            lib.query_variable("database", "Iceberg database", f"label_values(iceberg_table_files_count{{{C}}}, database)"),
        ],
    )

    b.row("Iceberg")
    b.add(
        lib.stat_panel(
            "작은 파일 비율 (Small files ratio)",
            [target(f"dataops:iceberg:small_files_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.3, T.small_files_max()),
            f"Small data files over all data files, every table: an overview. IcebergSmallFilesHigh looks at each table "
            f"(above {lib.pct(T.small_files_max())} and at least 100 small files): see the table below.",
            w=6,
        ),
        lib.stat_panel(
            "테이블 (Tables)",
            [target(f"count({_per_table('iceberg_table_files_count')}) or vector(0)")],
            "short",
            w=4,
            decimals=0,
        ),
        lib.stat_panel(
            "수집 실패 테이블 (Tables failing collection)",
            [target(f"count({_per_table('iceberg_table_collection_ok')} == 0) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            "Tables whose last collection failed or timed out (their other values are stale).",
            w=5,
            decimals=0,
        ),
        lib.stat_panel(
            "신선도 초과 테이블 (Stale tables)",
            [target(f"count((time() - {_per_table('iceberg_table_last_update_timestamp')}) > {inputs.freshness_max_age_s:g}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW)),
            f"Tables whose current snapshot is older than {lib.duration_text(inputs.freshness_max_age_s)} (sloFreshnessMaxAge, the data-freshness SLO's limit).",
            w=5,
            decimals=0,
        ),
        lib.stat_panel(
            "익스포터 (Exporter up)",
            # min: with the lake split across shards, one shard down is the exporter down.
            [target(f"min(iceberg_exporter_up{{{C}}})")],
            "short",
            lib.steps(lib.RED, (1, lib.GREEN)),
            w=4,
            mappings=lib.value_text({"0": ("DOWN", lib.RED), "1": ("UP", lib.GREEN)}),
        ),
    )
    b.add(
        lib.table_panel(
            "테이블별 상태 (Tables)",
            [
                target(_per_table("iceberg_table_size_bytes")),
                target(_per_table("iceberg_table_files_count")),
                target(_per_table("iceberg_table_snapshots_count")),
                target(_per_table("dataops:iceberg:table_small_files_ratio")),
                target(f"time() - {_per_table('iceberg_table_last_update_timestamp')}"),
            ],
            thresholds=lib.high_is_bad(0.3, T.small_files_max()),
            description=f"Size, live data files, snapshots, small-file share and age of the current snapshot per table. "
            f"Small files red above {lib.pct(T.small_files_max())} (IcebergSmallFilesHigh, with at least 100 small files).",
            w=24,
            h=10,
            rename={
                "Value #A": "size",
                "Value #B": "data files",
                "Value #C": "snapshots",
                "Value #D": "small files",
                "Value #E": "last update age",
            },
            column_units={"size": "bytes", "small files": "percentunit", "last update age": "s"},
            plain_columns=("size", "data files", "snapshots", "last update age"),
        ),
    )
    b.add(
        lib.timeseries_panel(
            "테이블 크기 상위 10 (Table size, top 10)",
            [target(f"topk(10, {_per_table('iceberg_table_size_bytes')})", "{{database}}.{{table}}")],
            "bytes",
            w=12,
        ),
        lib.timeseries_panel(
            "스냅샷 수 상위 10 (Snapshots, top 10)",
            [target(f"topk(10, {_per_table('iceberg_table_snapshots_count')})", "{{database}}.{{table}}")],
            "short",
            description="Many snapshots = snapshot expiry not running.",
            w=12,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "마지막 업데이트 이후 시간 (Time since last update)",
            [target(f"topk(10, time() - {_per_table('iceberg_table_last_update_timestamp')})", "{{database}}.{{table}}")],
            "s",
            lib.high_is_bad(None, inputs.freshness_max_age_s),
            f"Age of each table's current snapshot, ten oldest; dashed line = {lib.duration_text(inputs.freshness_max_age_s)} freshness limit (sloFreshnessMaxAge).",
            w=12,
        ),
        lib.timeseries_panel(
            "작은 파일 비율 추이 (Small files ratio)",
            [target(f"dataops:iceberg:small_files_ratio{{{C}}}", "all tables")],
            "percentunit",
            lib.high_is_bad(0.3, T.small_files_max()),
            w=12,
            min_val=0,
            max_val=1,
        ),
    )

    b.row("S3 / MinIO")
    b.add(
        lib.stat_panel(
            "S3 오류율 5m (S3 error ratio)",
            [target(f"dataops:s3:error_ratio{{{C}}}")],
            "percentunit",
            lib.high_is_bad(0.01, 0.05),
            "S3 requests that ended 4xx/5xx over all requests in the last 5 min.",
            w=6,
            no_value="no traffic",
        ),
        lib.bargauge_panel(
            "MinIO 용량 사용률 (MinIO capacity used)",
            [target(f"dataops:s3:capacity_usage_ratio{{{C}}}", "{{namespace}}")],
            "percentunit",
            lib.high_is_bad(0.7, T.storage_usage_max()),
            f"Used share of MinIO's usable capacity per deployment. Red above {lib.pct(T.storage_usage_max())} (StorageCapacityLow's threshold).",
            w=6,
            h=4,
            max_val=1,
        ),
        lib.stat_panel(
            "MinIO 여유 공간 (Usable free)",
            [target(f"max by (namespace) (minio_cluster_capacity_usable_free_bytes{{{C}}})", "{{namespace}}")],
            "bytes",
            w=6,
        ),
        lib.stat_panel(
            "오프라인 노드/드라이브 (Offline nodes / drives)",
            [
                target(f"max(minio_cluster_nodes_offline_total{{{C}}})", "nodes"),
                target(f"max(minio_cluster_drive_offline_total{{{C}}})", "drives"),
            ],
            "short",
            lib.steps(lib.GREEN, (1, lib.RED)),
            w=6,
            decimals=0,
        ),
    )
    b.add(
        lib.timeseries_panel(
            "S3 요청/오류 (S3 requests and errors per second)",
            [
                target(f"sum(rate(minio_s3_requests_total{{{C}}}[$__rate_interval]))", "requests"),
                target(f"sum(rate(minio_s3_requests_4xx_errors_total{{{C}}}[$__rate_interval]))", "4xx"),
                target(f"sum(rate(minio_s3_requests_5xx_errors_total{{{C}}}[$__rate_interval]))", "5xx"),
            ],
            "reqps",
            w=12,
        ),
        lib.timeseries_panel(
            "S3 오류율 추이 (S3 error ratio)",
            [target(f"dataops:s3:error_ratio{{{C}}}", "error ratio")],
            "percentunit",
            lib.high_is_bad(0.01, 0.05),
            w=12,
            min_val=0,
        ),
    )
    if inputs.shows("hive"):
        _hive_metastore(b)
    return b.build()


def _hive_metastore(b: Board) -> None:
    """Hive Metastore API latency/rate and errors (rules/hive.rules.yaml); collapsed: not every stack runs HMS."""
    p99_max = T.hive_api_p99_max()
    sql_max = T.hive_directsql_errors_max()
    b.collapsed_row(
        "Hive Metastore",
        lib.timeseries_panel(
            "HMS API p99 (Metastore API latency p99, worst pod)",
            [target(f"topk(10, dataops:hive:api_duration_seconds:p99_max{{{C}}})", "{{namespace}} {{api}}")],
            "s",
            lib.high_is_bad(None, p99_max),
            f"99th percentile latency per API function, worst metastore pod, APIs called in the last 5 min; "
            f"dashed line = HiveMetastoreApiSlow ({p99_max:g} s).",
            w=12,
            min_val=0,
        ),
        lib.timeseries_panel(
            "HMS API 호출 (Metastore API calls per second)",
            [target(f"topk(10, dataops:hive:api_calls:rate5m{{{C}}})", "{{namespace}} {{api}}")],
            "reqps",
            description="Calls per second per API function over all metastore pods, ten busiest.",
            w=12,
            min_val=0,
        ),
        lib.timeseries_panel(
            "Direct SQL 오류 (Direct SQL errors per second)",
            [target(f"dataops:hive:directsql_errors:rate5m{{{C}}}", "{{namespace}}")],
            "ops",
            lib.high_is_bad(None, sql_max),
            f"Direct SQL to the backing database failed and HMS fell back to JDO; dashed line = HiveMetastoreDirectSqlErrors ({sql_max:g}/s).",
            w=12,
            min_val=0,
        ),
        lib.stat_panel(
            "열린 연결 (Open Thrift connections)",
            [target(f"sum(dataops:hive:open_connections{{{C}}})")],
            "short",
            description="Open Thrift connections over all metastore pods.",
            w=12,
            h=8,
            decimals=0,
        ),
    )
