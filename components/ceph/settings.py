"""Settings of Ceph monitoring: the namespace of the Rook Ceph cluster (off when unset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from core.parsers import parse_dns_label

from core.settings import Reader, setting

SETTINGS = (
    setting("cephNamespace", "string", "Namespace of the Rook Ceph cluster (rook-ceph-mgr :9283 and rook-ceph-exporter :9926 are scraped there). Unset: Ceph monitoring is off.", parse_dns_label, optional=True, example="rook-ceph"),
)


@dataclass(frozen=True)
class CephSettings:
    namespace: Optional[str]

    @property
    def enabled(self) -> bool:
        return self.namespace is not None


def read(reader: Reader) -> CephSettings:
    return CephSettings(namespace=reader.get("cephNamespace"))
