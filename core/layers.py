"""The registry of platform layers: each domain package declares its own ``LAYER``.

A layer is a part of the platform whose scrape targets count in
``dataops:platform:availability``. Its domain package (``components/<name>/__init__.py``)
declares, next to its component and settings, one ``Layer``: the label value, the scrape
jobs that belong to it, whether the stack deploys it (read from the domain's own settings
object), the dashboard row shown only when it is deployed, and the component to build.
``components.LAYER_DOMAINS`` lists the packages in order; ``__main__.py``, platform
availability, the dashboards' optional rows and the tests all derive from ``layers()``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import pulumi

from core.wiring import Wiring


def always(_settings: Any) -> bool:
    return True


@dataclass(frozen=True)
class Layer:
    # The ``layer`` label value in dataops:platform:availability:by_layer and the domain's
    # package name (components/<name>) and StackSettings field.
    name: str
    # Scrape jobs that belong to the layer (ServiceMonitor job = Service name, PodMonitor job
    # = "<namespace>/<name>", hence the optional prefix); what its rule file selects.
    jobs: str
    # Builds the domain's component: (logical name, the domain's settings, the stack's wiring).
    component: Callable[[str, Any, Wiring], pulumi.ComponentResource]
    # Whether the stack deploys the layer's component, given the domain's settings object.
    deployed: Callable[[Any], bool] = always
    # Whether its scrape jobs count in platform availability (default: when deployed). The
    # storage domain runs its volume rules on cloud S3 too, but has MinIO targets only with MinIO.
    counted: Optional[Callable[[Any], bool]] = None
    # The dashboards' optional row of this layer (dashboards.thresholds.OPTIONAL_PARTS), if any.
    dashboard_part: Optional[str] = None
    # The component's logical name when it is not the layer's name.
    resource_name: Optional[str] = None
    # Helm values the layer adds to kube-prometheus-stack when deployed (merged in order).
    chart_values: Optional[Callable[[], Mapping[str, Any]]] = None
    # Its pods run JVMs with jmx_exporter 0.x / client_java DefaultExports series: the JVM
    # heap and GC rules (components/jvm) are deployed when any such layer is.
    runs_jvm: bool = False


def layers(domains: Optional[tuple[str, ...]] = None) -> tuple[Layer, ...]:
    """Every declared layer, in the order of ``components.LAYER_DOMAINS``."""
    if domains is None:
        from components import LAYER_DOMAINS

        domains = LAYER_DOMAINS
    declared = []
    for name in domains:
        layer = importlib.import_module(f"components.{name}").LAYER
        if layer.name != name:
            raise ValueError(f"components/{name} declares a layer named {layer.name!r}")
        declared.append(layer)
    return tuple(declared)


def counted_layers(deployed: tuple[Layer, ...], domain_settings: Mapping[str, Any]) -> tuple[Layer, ...]:
    """Of the deployed layers, those whose targets count in platform availability."""
    return tuple(layer for layer in deployed if (layer.counted or layer.deployed)(domain_settings[layer.name]))


def deployed_layers(registry: tuple[Layer, ...], domain_settings: Mapping[str, Any]) -> tuple[Layer, ...]:
    """The layers the stack deploys. A layer whose settings are missing is an error, never
    counted as deployed: a stack without it would read as degraded forever."""
    missing = [layer.name for layer in registry if layer.name not in domain_settings]
    if missing:
        raise KeyError(f"no settings for the layers {missing}: add the domain to components.LAYER_DOMAINS")
    return tuple(layer for layer in registry if layer.deployed(domain_settings[layer.name]))
