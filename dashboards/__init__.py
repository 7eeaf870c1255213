"""The seven DataOps Grafana dashboards (guide Phase 2), as code.

Module names: the guide numbers its dashboards 00..06, but a Python module name cannot start
with a digit (``import dashboards.00_main_navigation`` is a syntax error). Each module is
``d<NN>_<name>.py`` (``d00_main_navigation`` ...): ordinary imports, sorted in the guide's
order, and the number still leads the name. The ConfigMap file names keep the guide's
``<NN>-dataops-<name>.json``.

Every module has ``build(inputs: Inputs) -> dict`` (the Grafana dashboard JSON
model, made with grafana-foundation-sdk builders and its JSON encoder). ``Inputs`` holds what a
stack's settings and the SLO rules change (the freshness limit, burn factors, the optional parts it deploys), handed down as
plain values by components/dashboards; alert thresholds are read from the rule files
(``dashboards.thresholds``). ``DASHBOARDS`` is the ordered registry; ``rendered(inputs)``
gives ``(file_name, json_text)`` pairs with deterministic text: same inputs, same bytes.
"""

from __future__ import annotations

from types import ModuleType

from dashboards import (
    d00_main_navigation,
    d01_gitops_pipeline,
    d02_resource_capacity,
    d03_workload_execution,
    d04_data_pipeline,
    d05_optimization,
    d06_e2e_analytics,
)
from dashboards.lib import INDEX, DashboardInfo, dump
from dashboards.thresholds import Inputs

DASHBOARDS: tuple[ModuleType, ...] = (
    d00_main_navigation,
    d01_gitops_pipeline,
    d02_resource_capacity,
    d03_workload_execution,
    d04_data_pipeline,
    d05_optimization,
    d06_e2e_analytics,
)


def info(module: ModuleType) -> DashboardInfo:
    return INDEX[module.NUMBER]


def rendered(inputs: Inputs) -> list[tuple[str, str]]:
    """``(file_name, json_text)`` per dashboard, in the guide's order; same inputs, same bytes."""
    return [(info(m).file_name, dump(m.build(inputs))) for m in DASHBOARDS]
