"""What every component is handed besides its own settings: where and how it is wired in.

One ``Wiring`` per stack, built once in ``__main__.py``: the namespace the monitoring objects
live in, the provider options (the stack's explicit cluster), the chart release that owns
the CRDs (every custom resource depends on it; ``None`` only for the chart itself), where
alerts link to, and the few stack-wide facts a component may need (``protect``, the
StorageClass of monitoring volumes, the external labels). A component takes its own settings
object whole and this wiring; it never reads config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi

from core.rules import Links


@dataclass(frozen=True)
class Wiring:
    namespace: pulumi.Input[str]
    links: Links
    # ResourceOptions every component is created with: the stack's provider, inherited by children.
    opts: pulumi.ResourceOptions
    # The kube-prometheus-stack release: owns the CRDs, so every custom resource depends on it.
    operator: Optional[pulumi.Resource] = None
    # Pulumi `protect` on what holds monitoring data (volumes, the release).
    protect: bool = False
    storage_class: str = ""
    external_labels: Mapping[str, str] = field(default_factory=dict)
    # The stack's blackbox_exporter (components.portal.PortalMonitoring: ``prober_address``,
    # ``service``) when it runs: TCP probes of other layers (the Hive Metastore) go through it.
    prober: Optional[pulumi.ComponentResource] = None

    def with_operator(self, operator: pulumi.Resource) -> Wiring:
        """This wiring for the components built after the chart release."""
        return dataclasses.replace(self, operator=operator)

    def with_prober(self, prober: Optional[pulumi.ComponentResource]) -> Wiring:
        """This wiring for the components built after the blackbox_exporter."""
        return dataclasses.replace(self, prober=prober)
