"""Command line and environment configuration of the Iceberg exporter.

Every flag can also be set by an environment variable (``ICEBERG_EXPORTER_<FLAG>``);
a flag given on the command line wins over the variable. Credentials are accepted
only from environment variables, never from flags (flags show in ``ps``).

All problems found are reported together, one line each, naming the flag and its
environment variable; :func:`load_config` raises :class:`ConfigError` with them and
the command line exits with status 2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import urlsplit

from exporters.iceberg.credentials import read_credential_files
from exporters.iceberg.options import CATALOG_TYPES, CREDENTIAL_ENV, LOCAL_DEFAULT_DIR, OPTION_BY_DEST, build_parser
from exporters.iceberg.quantities import parse_duration, parse_size
from exporters.iceberg.sharding import parse_shard, shard_of

# The region given to pyiceberg's S3 FileIO with a custom s3.endpoint and no region set (the AWS
# SDK's own default, MinIO's default region); a store configured with another region needs
# --catalog-property s3.region=<region> or AWS_REGION.
DEFAULT_S3_REGION = "us-east-1"

# Catalog property keys that carry secrets and so are refused as --catalog-property.
_SECRET_KEY_RE = re.compile(r"(secret|token|password|credential|access-key|private|sas|key-id)", re.I)


class ConfigError(Exception):
    """Invalid configuration; ``problems`` holds one message per problem."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


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
        if props.get("s3.endpoint") and not (props.get("s3.region") or props.get("client.region")):
            # pyiceberg's S3 FileIO (pyarrow) asks AWS for a bucket's region when none is given
            # (pyarrow.fs.resolve_s3_region, a request to AWS's endpoint), even with s3.endpoint
            # set: a bucket name leaving the cluster, or a wait where egress is closed. With its
            # own endpoint the store gets the region the AWS SDK itself defaults to.
            props["s3.region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_S3_REGION
        for var, key in CREDENTIAL_ENV.items():
            if env.get(var):
                props[key] = env[var]
        if self.credentials_dir:
            props.update(read_credential_files(self.credentials_dir))
        return props

    def redacted_uri(self) -> str:
        return redact_uri(self.catalog_uri)


def redact_uri(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable>"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return uri


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
        o = OPTION_BY_DEST[dest]
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
            f"{OPTION_BY_DEST['catalog_type'].where()}: invalid catalog type {catalog_type!r} "
            f"(choose from {', '.join(CATALOG_TYPES)})"
        )
    cfg.catalog_type = catalog_type

    uri, uri_src = raw("catalog_uri")
    uri_where = OPTION_BY_DEST["catalog_uri"].where()
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
                f"{OPTION_BY_DEST['catalog_uri'].env} instead of the flag (flags show in ps)"
            )
    cfg.catalog_uri = uri or ""
    cfg.warehouse = warehouse or None

    name, _ = raw("catalog_name")
    cfg.catalog_name = (name or "").strip()
    if not cfg.catalog_name:
        problems.append(f"{OPTION_BY_DEST['catalog_name'].where()}: must not be empty")

    cfg.listen_address = (raw("listen_address")[0] or "").strip()
    if not cfg.listen_address:
        problems.append(f"{OPTION_BY_DEST['listen_address'].where()}: must not be empty")

    port_text, _ = raw("port")
    try:
        cfg.port = int(str(port_text).strip())
        if not 0 <= cfg.port <= 65535:
            raise ValueError
    except ValueError:
        problems.append(f"{OPTION_BY_DEST['port'].where()}: invalid port {port_text!r} (0-65535)")

    for dest in ("interval", "table_timeout", "max_backoff"):
        text, _ = raw(dest)
        try:
            setattr(cfg, dest, parse_duration(str(text)))
        except ValueError as exc:
            problems.append(f"{OPTION_BY_DEST[dest].where()}: {exc}")

    size_text, _ = raw("small_file_bytes")
    try:
        cfg.small_file_bytes = parse_size(str(size_text))
    except ValueError as exc:
        problems.append(f"{OPTION_BY_DEST['small_file_bytes'].where()}: {exc}")

    workers_text, _ = raw("workers")
    try:
        cfg.workers = int(str(workers_text).strip())
        if not 1 <= cfg.workers <= 64:
            raise ValueError
    except ValueError:
        problems.append(f"{OPTION_BY_DEST['workers'].where()}: invalid worker count {workers_text!r} (1-64)")

    ns_text, _ = raw("namespaces")
    if ns_text:
        names = tuple(n.strip() for n in ns_text.split(",") if n.strip())
        if not names:
            problems.append(f"{OPTION_BY_DEST['namespaces'].where()}: no namespace given")
        cfg.namespaces = names or None

    prop_opt = OPTION_BY_DEST["catalog_property"]
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
        problems.append(f"{OPTION_BY_DEST['shard'].where()}: {exc}")

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
                f"{OPTION_BY_DEST['full_refresh_interval'].where()}: {exc} (or 0 for every cycle, off for never)"
            )

    cfg.credentials_dir = (raw("credentials_dir")[0] or "").strip() or None
    if cfg.credentials_dir and not os.path.isdir(cfg.credentials_dir):
        problems.append(f"{OPTION_BY_DEST['credentials_dir'].where()}: {cfg.credentials_dir!r} is not a directory")

    level, _ = raw("log_level")
    cfg.log_level = (level or "").strip().upper()
    if cfg.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"{OPTION_BY_DEST['log_level'].where()}: invalid log level {level!r}")

    if problems:
        raise ConfigError(problems)
    return cfg
