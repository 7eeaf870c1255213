"""Settings of Oracle monitoring: the database DSN (a secret), the exporter image, the database label.

Off unless ``oracleDatabase`` names the database to monitor; then ``oracleDsn`` (a secret)
is required. The switch is a plain setting, not the secret itself: an offline render gives
every missing secret a placeholder, which must not turn a layer on. The DSN is
``<user>/<password>@<connect string>`` (the classic oracledb_exporter form); the component
splits it into the exporter's user, password file and connect string inside a Kubernetes
Secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import image_ref, parse_dns_label

from core.settings import Reader, setting

DEFAULT_LISTENER_PORT = 1521


def listener_port(connect: str) -> int:
    """The TCP port of an EZConnect string (``[//]host[:port][/service]``) or descriptor (``PORT=n``);
    1521, Oracle's default listener port, when none is written (e.g. a TNS alias)."""
    match = re.search(r"\(\s*PORT\s*=\s*(\d+)\s*\)", connect, re.IGNORECASE) or re.match(r"^(?:[a-z]+://)?/{0,2}[^/:()]+:(\d+)", connect)
    return int(match.group(1)) if match else DEFAULT_LISTENER_PORT


def split_dsn(dsn: str) -> Optional[tuple[str, str, str]]:
    """(user, password, connect string) of ``user/password@connect``, or None when malformed.

    The connect string follows the last '@' and the user precedes the first '/', so a
    password may contain both characters.
    """
    credentials, at, connect = dsn.rpartition("@") if isinstance(dsn, str) else ("", "", "")
    user, slash, password = credentials.partition("/")
    if not (at and slash and user and password and connect) or any(c.isspace() for c in user + connect):
        return None
    return user, password, connect


def dsn(value: object) -> str:
    """The DSN's form, checked by Reader.secret (its problems never show the value)."""
    if not isinstance(value, str) or split_dsn(value) is None:
        raise ValueError("not of the form <user>/<password>@<host>:<port>/<service> (or @<TNS alias>)")
    return value


SETTINGS = (
    setting("oracleDatabase", "string", "Name of the Oracle database to monitor: the 'database' label of its series and alerts. Unset: Oracle monitoring is off. Needs oracleDsn.", parse_dns_label, optional=True, example="dwh"),
    setting("oracleDsn", "string", "Oracle DSN <user>/<password>@<host>:<port>/<service> of a read-only monitoring user, for Oracle's exporter. Required with oracleDatabase.", dsn, optional=True, secret=True, example="<user>/<password>@db.example.com:1521/ORCLPDB1"),
    setting("oracleExporterImage", "string", "Oracle's observability exporter image (oracle/oracle-db-appdev-monitoring), pinned.", image_ref, "container-registry.oracle.com/database/observability-exporter:2.4.2"),
)


@dataclass(frozen=True)
class OracleSettings:
    database: Optional[str]
    dsn: Optional[pulumi.Output]  # secret
    image: str
    port: int = DEFAULT_LISTENER_PORT  # the database listener's port (the exporter's only egress besides DNS)

    @property
    def enabled(self) -> bool:
        return self.database is not None


def read(reader: Reader) -> OracleSettings:
    database = reader.get("oracleDatabase")
    image = reader.get("oracleExporterImage")
    on = reader.raw("oracleDatabase") is not None
    if not on:
        return OracleSettings(database=None, dsn=None, image=image)
    secret_dsn = reader.secret("oracleDsn", required=True, why=f"oracleDatabase = {reader.raw('oracleDatabase')!r}: the exporter logs in with it")
    # Reader.secret checked the form (dsn()); the port is not secret and shapes the NetworkPolicy.
    raw = reader.raw("oracleDsn")
    parts = split_dsn(raw) if isinstance(raw, str) else None
    port = listener_port(parts[2]) if parts else DEFAULT_LISTENER_PORT
    return OracleSettings(database=database, dsn=secret_dsn, image=image, port=port)
