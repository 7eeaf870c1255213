"""The seven DataOps Grafana dashboards (guide Phase 2), as code.

Module names: the guide numbers its dashboards 00..06, but a Python module name cannot start
with a digit (``import dashboards.00_main_navigation`` is a syntax error). Each module is
``d<NN>_<name>.py`` (``d00_main_navigation`` ...): ordinary imports, sorted in the guide's
order, and the number still leads the name. The ConfigMap file names keep the guide's
``<NN>-dataops-<name>.json``.

Every module has ``build() -> dict`` (the Grafana dashboard JSON model, made with
grafana-foundation-sdk builders and its JSON encoder). ``DASHBOARDS`` is the ordered registry;
``rendered()`` gives ``(file_name, json_text)`` pairs with deterministic text.
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


def rendered() -> list[tuple[str, str]]:
    """``(file_name, json_text)`` per dashboard, in the guide's order; same code, same bytes."""
    return [(info(m).file_name, dump(m.build())) for m in DASHBOARDS]
