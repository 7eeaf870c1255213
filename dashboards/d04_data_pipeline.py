"""04 데이터 파이프라인 (Data Pipeline): Iceberg table health and the S3/MinIO layer under it.

Per-table series come from our Iceberg exporter (labels database, table); ``max by (database,
table)`` drops the exporter's pod/instance so a restarted or doubled exporter does not split rows.
"""

from __future__ import annotations

from dashboards import lib
from dashboards.lib import C, Board, target

NUMBER = "04"

T = f'database=~"$database", {C}'


def _per_table(metric: str) -> str:
    return f"max by (database, table) ({metric}{{{T}}})"


def build() -> dict:
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
            lib.high_is_bad(0.3, lib.SMALL_FILES_MAX),
            "Small data files over all data files, every table. Red above 50 % (IcebergSmallFilesHigh): compaction needed.",
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
            [target(f"count((time() - {_per_table('iceberg_table_last_update_timestamp')}) > {lib.FRESHNESS_MAX_AGE_S}) or vector(0)")],
            "short",
            lib.steps(lib.GREEN, (1, lib.YELLOW)),
            "Tables whose current snapshot is older than 6 h (the data-freshness SLO's default max age).",
            w=5,
            decimals=0,
        ),
        lib.stat_panel(
            "익스포터 (Exporter up)",
            [target(f"max(iceberg_exporter_up{{{C}}})")],
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
                target(f"{_per_table('iceberg_table_small_files_count')} / ({_per_table('iceberg_table_files_count')} > 0)"),
                target(f"time() - {_per_table('iceberg_table_last_update_timestamp')}"),
            ],
            thresholds=lib.high_is_bad(0.3, lib.SMALL_FILES_MAX),
            description="Size, live data files, snapshots, small-file share and age of the current snapshot per table. Small files red above 50 %.",
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
            lib.high_is_bad(None, lib.FRESHNESS_MAX_AGE_S),
            "Age of each table's current snapshot, ten oldest; dashed line = 6 h freshness limit.",
            w=12,
        ),
        lib.timeseries_panel(
            "작은 파일 비율 추이 (Small files ratio)",
            [target(f"dataops:iceberg:small_files_ratio{{{C}}}", "all tables")],
            "percentunit",
            lib.high_is_bad(0.3, lib.SMALL_FILES_MAX),
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
            lib.high_is_bad(0.7, lib.STORAGE_USAGE_MAX),
            "Used share of MinIO's usable capacity per deployment. Red above 85 % (storage threshold).",
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
    return b.build()
