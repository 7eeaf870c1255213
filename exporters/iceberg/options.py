"""The Iceberg exporter's flags, their environment variables and the ``--help`` text.

The table here is the single list of options; :mod:`exporters.iceberg.config` reads and
validates the values.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

ENV_PREFIX = "ICEBERG_EXPORTER_"

CATALOG_TYPES = ("sql", "hive", "rest")

#: Embedded default for local runs: SQLite catalog and file warehouse under this dir.
LOCAL_DEFAULT_DIR = "iceberg-local"

# Credentials: environment variable -> pyiceberg catalog property.
CREDENTIAL_ENV = {
    "ICEBERG_EXPORTER_REST_TOKEN": "token",
    "ICEBERG_EXPORTER_REST_CREDENTIAL": "credential",
    "ICEBERG_EXPORTER_S3_ACCESS_KEY_ID": "s3.access-key-id",
    "ICEBERG_EXPORTER_S3_SECRET_ACCESS_KEY": "s3.secret-access-key",
    "ICEBERG_EXPORTER_S3_SESSION_TOKEN": "s3.session-token",
}


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str
    default: str | None
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    def where(self) -> str:
        return f"{self.flag} / {self.env}"


OPTIONS: tuple[Option, ...] = (
    Option("--catalog-type", "catalog_type", "sql", "catalog implementation", choices=CATALOG_TYPES),
    Option(
        "--catalog-uri",
        "catalog_uri",
        None,
        "catalog URI: thrift://host:9083 (hive; HIVE_METASTORE_URI is also read), "
        "http(s)://host/ (rest), SQLAlchemy URL such as sqlite:////path/catalog.db (sql). "
        f"Default for sql: sqlite:///./{LOCAL_DEFAULT_DIR}/catalog.db (created if absent). "
        "A URI with a password must come from the environment variable, not the flag",
        metavar="URI",
    ),
    Option(
        "--warehouse",
        "warehouse",
        None,
        f"warehouse location (e.g. s3://bucket/warehouse, file:///data/warehouse). "
        f"Default for the local sql catalog: ./{LOCAL_DEFAULT_DIR}/warehouse",
        metavar="URI",
    ),
    Option("--catalog-name", "catalog_name", "default", "catalog name (the SQL catalog keys its rows by it)"),
    Option("--listen-address", "listen_address", "0.0.0.0", "address the HTTP server binds", metavar="ADDR"),
    Option("--port", "port", "9123", "HTTP port serving /metrics (0 = pick a free port)", metavar="PORT"),
    Option("--interval", "interval", "5m", "time between the starts of two collection cycles (30s, 5m, 1h)", metavar="DURATION"),
    Option(
        "--small-file-bytes",
        "small_file_bytes",
        "32MiB",
        "data files smaller than this count as small (bytes, or 32MiB / 64MB)",
        metavar="N",
    ),
    Option(
        "--table-timeout",
        "table_timeout",
        "30s",
        "time limit for loading and measuring one table (and for one catalog listing); "
        "over it the table is counted as error kind 'timeout' and skipped that cycle",
        metavar="DURATION",
    ),
    Option("--workers", "workers", "4", "tables measured concurrently", metavar="N"),
    Option(
        "--namespaces",
        "namespaces",
        None,
        "comma-separated namespaces (databases) to export; default: all top-level namespaces",
        metavar="NS[,NS...]",
    ),
    Option(
        "--max-backoff",
        "max_backoff",
        "60s",
        "cap of the exponential backoff between retries while the catalog is unreachable "
        "(never longer than --interval)",
        metavar="DURATION",
    ),
    Option(
        "--catalog-property",
        "catalog_property",
        None,
        "extra non-secret pyiceberg catalog property KEY=VALUE (repeatable; the env var takes "
        "KEY=VALUE pairs separated by commas), e.g. s3.endpoint=http://minio:9000. Secret keys "
        "are refused here: use the credential environment variables",
        metavar="KEY=VALUE",
    ),
    Option(
        "--credentials-dir",
        "credentials_dir",
        None,
        "directory of credential files (a mounted Secret): s3-access-key-id, s3-secret-access-key, "
        "s3-session-token, rest-token, rest-credential; re-read when they change (no restart on rotation)",
        metavar="DIR",
    ),
    Option(
        "--shard",
        "shard",
        "0/1",
        "export only this replica's share of the tables: I/N with 0 <= I < N, e.g. 2/4 on the third of "
        "four replicas. A table belongs to shard jump_hash(sha1('database.table'), N), the same in every "
        "replica; growing N to N+1 moves tables only onto the new shard",
        metavar="I/N",
    ),
    Option(
        "--full-refresh-interval",
        "full_refresh_interval",
        "1h",
        "reload every table at least this often even if its metadata location (or REST ETag) did not "
        "change (after 50-100%% of it, spread by a hash of the table name); catches a metadata file "
        "deleted behind the catalog's back. 0: every cycle (no change detection); off: never",
        metavar="DURATION",
    ),
    Option("--log-level", "log_level", "INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
)

OPTION_BY_DEST = {o.dest: o for o in OPTIONS}


def _env_help() -> str:
    lines = ["environment variables (a flag given on the command line wins):"]
    for o in OPTIONS:
        lines.append(f"  {o.env:<40} {o.flag}")
    lines.append(f"  {'HIVE_METASTORE_URI':<40} --catalog-uri when --catalog-type is hive and no URI is set")
    lines.append("")
    lines.append("credentials (files in --credentials-dir, or the environment; never flags):")
    for var, key in CREDENTIAL_ENV.items():
        lines.append(f"  {var:<40} catalog property {key}")
    lines.append(
        "  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION are read by the S3 client itself;"
    )
    lines.append("  pyiceberg's own PYICEBERG_CATALOG__<CATALOG_NAME>__<PROPERTY> variables also apply.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exporters.iceberg",
        description="Export Apache Iceberg table metrics (size, files, snapshots, small files, ...) to Prometheus.",
        epilog=_env_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for o in OPTIONS:
        kwargs = {"dest": o.dest, "default": None, "metavar": o.metavar}
        default = f" (default: {o.default})" if o.default is not None else ""
        if o.choices:
            kwargs["metavar"] = "{" + ",".join(o.choices) + "}"
        if o.dest == "catalog_property":
            kwargs["action"] = "append"
        parser.add_argument(o.flag, help=f"{o.help}{default} [env {o.env}]", **kwargs)
    return parser
