"""Command line and environment configuration of the Iceberg exporter.

Every flag can also be set by an environment variable (``ICEBERG_EXPORTER_<FLAG>``);
a flag given on the command line wins over the variable. Credentials are accepted
only from environment variables, never from flags (flags show in ``ps``).

All problems found are reported together, one line each, naming the flag and its
environment variable; :func:`load_config` raises :class:`ConfigError` with them and
the command line exits with status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from exporters.iceberg.credentials import read_credential_files

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

# Catalog property keys that carry secrets and so are refused as --catalog-property.
_SECRET_KEY_RE = re.compile(r"(secret|token|password|credential|access-key|private|sas|key-id)", re.I)

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


class ConfigError(Exception):
    """Invalid configuration; ``problems`` holds one message per problem."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def parse_duration(text: str) -> float:
    """Parse ``30s``, ``5m``, ``1h``, ``250ms``, ``1.5s`` or plain seconds into seconds."""
    m = _DURATION_RE.match(text or "")
    if not m:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h)")
    value = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    if value <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return value


def parse_size(text: str) -> int:
    """Parse a byte count: ``33554432``, ``32MiB``, ``64MB``."""
    m = _SIZE_RE.match(text or "")
    if not m:
        raise ValueError(f"invalid size {text!r} (use a byte count such as 33554432 or 32MiB)")
    value = int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
    if value <= 0:
        raise ValueError(f"size {text!r} must be greater than zero")
    return value


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

_OPTION_BY_DEST = {o.dest: o for o in OPTIONS}


@dataclass
class Config:
    catalog_type: str = "sql"
    catalog_uri: str = ""
    warehouse: str | None = None
    catalog_name: str = "default"
    listen_address: str = "0.0.0.0"
    port: int = 9123
    interval: float = 300.0
    small_file_bytes: int = 32 * 1024 * 1024
    table_timeout: float = 30.0
    workers: int = 4
    namespaces: tuple[str, ...] | None = None
    max_backoff: float = 60.0
    catalog_properties: dict[str, str] = field(default_factory=dict)
    #: Credential files (exporters/iceberg/credentials.py); they win over the credential env vars.
    credentials_dir: str | None = None
    log_level: str = "INFO"
    #: True when neither flag nor env var set the URI: the embedded local SQL catalog.
    local_default: bool = False
    #: This replica's shard (index, count): it exports the tables with shard_of(...) == index.
    shard_index: int = 0
    shard_count: int = 1
    #: Seconds after which an unchanged table is reloaded anyway; 0: every cycle; None: never.
    full_refresh_interval: float | None = 3600.0

    def owns(self, database: str, table: str) -> bool:
        """True if this replica's shard exports ``database.table``."""
        return self.shard_count == 1 or shard_of(database, table, self.shard_count) == self.shard_index

    def catalog_props(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """pyiceberg catalog properties, credentials taken from ``env`` (default os.environ)."""
        env = os.environ if env is None else env
        props: dict[str, str] = {"type": self.catalog_type, "uri": self.catalog_uri}
        if self.warehouse:
            props["warehouse"] = self.warehouse
        if self.catalog_type == "sql" and not self.local_default:
            # A monitoring exporter must not create catalog tables in someone's database.
            props["init_catalog_tables"] = "false"
        props.update(self.catalog_properties)
        for var, key in CREDENTIAL_ENV.items():
            if env.get(var):
                props[key] = env[var]
        if self.credentials_dir:
            props.update(read_credential_files(self.credentials_dir))
        return props

    def redacted_uri(self) -> str:
        return redact_uri(self.catalog_uri)


_JUMP_MULTIPLIER = 2862933555777941757
_MASK64 = (1 << 64) - 1
MAX_SHARDS = 1024


def jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash: a bucket in [0, buckets) for a 64-bit key.

    Going from N to N+1 buckets moves a key only into the new bucket N (about 1/(N+1)
    of the keys), never between existing buckets.
    """
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(database: str, table: str, shards: int) -> int:
    """The shard in [0, shards) that exports ``database.table``.

    Stable across processes, restarts and Python versions: the first 8 bytes of the
    SHA-1 of the UTF-8 string ``"database.table"`` (not Python's per-process ``hash()``),
    through :func:`jump_hash`.
    """
    digest = hashlib.sha1(f"{database}.{table}".encode("utf-8")).digest()
    return jump_hash(int.from_bytes(digest[:8], "big"), shards)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N <= MAX_SHARDS."""
    m = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", text or "")
    if not m:
        raise ValueError(f"invalid shard {text!r} (use I/N, e.g. 0/1 or 2/4)")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"shard count in {text!r} must be between 1 and {MAX_SHARDS}")
    if not 0 <= index < count:
        raise ValueError(f"shard index in {text!r} must be between 0 and {count - 1} (0-based)")
    return index, count


def redact_uri(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable>"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return uri


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


def _split_props(values: Sequence[str], where: str, problems: list[str]) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in values:
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"{where}: expected KEY=VALUE, got {item!r}")
            continue
        props[key] = value.strip()
    return props


def load_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``argv`` and ``env``; raise :class:`ConfigError` listing every problem.

    ``argparse`` itself exits with status 2 on unknown flags.
    """
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    problems: list[str] = []

    def raw(dest: str) -> tuple[str | None, str]:
        """Value and where it came from (flag wins over env over default)."""
        o = _OPTION_BY_DEST[dest]
        value = getattr(args, dest)
        if value is not None and dest != "catalog_property":
            return value, "flag"
        if env.get(o.env, "") != "":
            return env[o.env], "env"
        return o.default, "default"

    cfg = Config()

    catalog_type, _ = raw("catalog_type")
    catalog_type = (catalog_type or "").strip().lower()
    if catalog_type not in CATALOG_TYPES:
        problems.append(
            f"{_OPTION_BY_DEST['catalog_type'].where()}: invalid catalog type {catalog_type!r} "
            f"(choose from {', '.join(CATALOG_TYPES)})"
        )
    cfg.catalog_type = catalog_type

    uri, uri_src = raw("catalog_uri")
    uri_where = _OPTION_BY_DEST["catalog_uri"].where()
    if not uri and catalog_type == "hive" and env.get("HIVE_METASTORE_URI"):
        uri, uri_src, uri_where = env["HIVE_METASTORE_URI"], "env", "HIVE_METASTORE_URI"
    warehouse, _ = raw("warehouse")
    if not uri:
        if catalog_type == "sql":
            base = Path.cwd() / LOCAL_DEFAULT_DIR
            uri = f"sqlite:///{base / 'catalog.db'}"
            warehouse = warehouse or (base / "warehouse").as_uri()
            cfg.local_default = True
        elif catalog_type in CATALOG_TYPES:
            extra = " or HIVE_METASTORE_URI" if catalog_type == "hive" else ""
            problems.append(f"{uri_where}{extra}: a catalog URI is required for catalog type {catalog_type}")
    if uri:
        try:
            parts = urlsplit(uri)
            scheme = parts.scheme.lower()
            password = parts.password
        except ValueError as exc:
            problems.append(f"{uri_where}: invalid URI ({exc})")
            scheme, password = "", None
        expected = {"hive": ("thrift",), "rest": ("http", "https")}.get(catalog_type)
        if catalog_type == "hive" and scheme == "thrift":
            for one in uri.split(","):
                try:
                    if not urlsplit(one.strip()).hostname or not urlsplit(one.strip()).port:
                        problems.append(f"{uri_where}: hive URI {one.strip()!r} needs thrift://host:port")
                except ValueError as exc:
                    problems.append(f"{uri_where}: invalid hive URI {one.strip()!r} ({exc})")
        if expected and scheme not in expected:
            problems.append(
                f"{uri_where}: {catalog_type} catalog URI must start with "
                + " or ".join(f"{s}://" for s in expected)
                + f", got {redact_uri(uri)!r}"
            )
        if catalog_type == "sql" and "://" not in uri:
            problems.append(f"{uri_where}: sql catalog URI must be a SQLAlchemy URL such as sqlite:////path/catalog.db")
        if password and uri_src == "flag":
            problems.append(
                f"{uri_where}: the URI contains a password; pass it through the environment variable "
                f"{_OPTION_BY_DEST['catalog_uri'].env} instead of the flag (flags show in ps)"
            )
    cfg.catalog_uri = uri or ""
    cfg.warehouse = warehouse or None

    name, _ = raw("catalog_name")
    cfg.catalog_name = (name or "").strip()
    if not cfg.catalog_name:
        problems.append(f"{_OPTION_BY_DEST['catalog_name'].where()}: must not be empty")

    cfg.listen_address = (raw("listen_address")[0] or "").strip()
    if not cfg.listen_address:
        problems.append(f"{_OPTION_BY_DEST['listen_address'].where()}: must not be empty")

    port_text, _ = raw("port")
    try:
        cfg.port = int(str(port_text).strip())
        if not 0 <= cfg.port <= 65535:
            raise ValueError
    except ValueError:
        problems.append(f"{_OPTION_BY_DEST['port'].where()}: invalid port {port_text!r} (0-65535)")

    for dest in ("interval", "table_timeout", "max_backoff"):
        text, _ = raw(dest)
        try:
            setattr(cfg, dest, parse_duration(str(text)))
        except ValueError as exc:
            problems.append(f"{_OPTION_BY_DEST[dest].where()}: {exc}")

    size_text, _ = raw("small_file_bytes")
    try:
        cfg.small_file_bytes = parse_size(str(size_text))
    except ValueError as exc:
        problems.append(f"{_OPTION_BY_DEST['small_file_bytes'].where()}: {exc}")

    workers_text, _ = raw("workers")
    try:
        cfg.workers = int(str(workers_text).strip())
        if not 1 <= cfg.workers <= 64:
            raise ValueError
    except ValueError:
        problems.append(f"{_OPTION_BY_DEST['workers'].where()}: invalid worker count {workers_text!r} (1-64)")

    ns_text, _ = raw("namespaces")
    if ns_text:
        names = tuple(n.strip() for n in ns_text.split(",") if n.strip())
        if not names:
            problems.append(f"{_OPTION_BY_DEST['namespaces'].where()}: no namespace given")
        cfg.namespaces = names or None

    prop_opt = _OPTION_BY_DEST["catalog_property"]
    props: dict[str, str] = {}
    if env.get(prop_opt.env):
        props.update(_split_props(env[prop_opt.env].split(","), prop_opt.env, problems))
    flag_props = _split_props(args.catalog_property or [], prop_opt.flag, problems)
    for key in flag_props:
        if _SECRET_KEY_RE.search(key):
            problems.append(
                f"{prop_opt.flag}: property {key!r} looks like a credential; set it through an environment "
                f"variable ({', '.join(CREDENTIAL_ENV)}) or PYICEBERG_CATALOG__{cfg.catalog_name.upper()}__*"
            )
    props.update(flag_props)
    for key in ("type", "uri", "warehouse"):
        if key in props:
            problems.append(f"{prop_opt.where()}: set {key!r} with its own flag, not as a catalog property")
    cfg.catalog_properties = props

    shard_text, _ = raw("shard")
    try:
        cfg.shard_index, cfg.shard_count = parse_shard(str(shard_text))
    except ValueError as exc:
        problems.append(f"{_OPTION_BY_DEST['shard'].where()}: {exc}")

    refresh_text, _ = raw("full_refresh_interval")
    refresh = str(refresh_text).strip().lower()
    if refresh in ("off", "never"):
        cfg.full_refresh_interval = None
    elif refresh in ("0", "0s"):
        cfg.full_refresh_interval = 0.0  # every cycle: change detection off
    else:
        try:
            cfg.full_refresh_interval = parse_duration(str(refresh_text))
        except ValueError as exc:
            problems.append(
                f"{_OPTION_BY_DEST['full_refresh_interval'].where()}: {exc} (or 0 for every cycle, off for never)"
            )

    cfg.credentials_dir = (raw("credentials_dir")[0] or "").strip() or None
    if cfg.credentials_dir and not os.path.isdir(cfg.credentials_dir):
        problems.append(f"{_OPTION_BY_DEST['credentials_dir'].where()}: {cfg.credentials_dir!r} is not a directory")

    level, _ = raw("log_level")
    cfg.log_level = (level or "").strip().upper()
    if cfg.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"{_OPTION_BY_DEST['log_level'].where()}: invalid log level {level!r}")

    if problems:
        raise ConfigError(problems)
    return cfg
