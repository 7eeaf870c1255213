"""Settings of Hive Metastore monitoring: where the metastore runs and the Thrift address to probe.

Off unless a target is named. ``hiveMetastoreThriftAddress`` alone probes the Thrift port
(HiveMetastoreDown); with ``hiveMetastoreNamespace`` the metastore pods' jmx_exporter agent
is scraped too (API latency, direct-SQL errors, JVM heap). The namespace alone is not
enough: the domain's alerts read the Thrift probe, which would otherwise never exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from core.parsers import parse_dns_label

from core.settings import PROJECT, Reader, setting

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})$")


def host_port(text: Any) -> str:
    """``host:port`` as Prometheus targets spell it (no scheme, no path)."""
    if not isinstance(text, str):
        raise ValueError("must be a string")
    if "://" in text:
        raise ValueError("must be host:port without a scheme (thrift://host:9083 -> host:9083)")
    match = _HOST_PORT.match(text)
    if not match or not 0 < int(match.group("port")) < 65536:
        raise ValueError("must be host:port, e.g. hive-metastore.hive.svc:9083")
    return text


SETTINGS = (
    setting("hiveMetastoreNamespace", "string", "Namespace of the Hive Metastore pods whose jmx_exporter agent (port jmx-metrics) is scraped. Unset: not scraped.", parse_dns_label, optional=True, example="hive"),
    setting("hiveMetastoreThriftAddress", "string", "host:port of the Hive Metastore Thrift service, probed over TCP by blackbox_exporter. Unset: Hive Metastore monitoring is off.", host_port, optional=True, example="hive-metastore.hive.svc:9083"),
)


@dataclass(frozen=True)
class HiveSettings:
    namespace: Optional[str]
    thrift_address: Optional[str]

    @property
    def enabled(self) -> bool:
        return self.thrift_address is not None

    @property
    def thrift_port(self) -> int:
        """The probed port (the blackbox_exporter's NetworkPolicy must let it connect there)."""
        return int((self.thrift_address or ":0").rsplit(":", 1)[1])


def read(reader: Reader) -> HiveSettings:
    namespace = reader.get("hiveMetastoreNamespace")
    address = reader.get("hiveMetastoreThriftAddress")
    if namespace and not address and reader.raw("hiveMetastoreThriftAddress") is None:
        reader.problem(
            f"{PROJECT}:hiveMetastoreThriftAddress is not set while hiveMetastoreNamespace = {namespace!r}: "
            "HiveMetastoreDown and the missing-metrics alert read the Thrift probe. "
            f"Fix: {reader.fix('hiveMetastoreThriftAddress', f'hive-metastore.{namespace}.svc:9083')}"
        )
    return HiveSettings(namespace=namespace, thrift_address=address)
