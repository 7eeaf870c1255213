"""Dashboards: the seven DataOps Grafana dashboards (dashboards/), one ConfigMap each.

Grafana's dashboard sidecar (PrometheusStack) loads every ConfigMap labelled
``grafana_dashboard: "1"`` in any namespace and files it in the folder named by the
``grafana_folder`` annotation. The JSON is deterministic, so a re-run previews no diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

import dashboards
from core.k8s import labels
from components.prometheus_stack import DASHBOARD_FOLDER_ANNOTATION, DASHBOARD_LABEL

COMPONENT = "grafana-dashboards"
# A ConfigMap holds at most 1 MiB (data plus metadata); stay well below it.
CONFIGMAP_LIMIT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DashboardsArgs:
    namespace: pulumi.Input[str]
    folder: str = "DataOps"
    # The chart release: when given, the ConfigMaps wait for Grafana's sidecar to exist.
    operator: Optional[pulumi.Resource] = None


def config_map_name(file_name: str) -> str:
    """``00-dataops-main-navigation.json`` -> ``grafana-dashboard-00-dataops-main-navigation``."""
    return "grafana-dashboard-" + file_name.removesuffix(".json")


class Dashboards(pulumi.ComponentResource):
    config_maps: dict[str, k8s.core.v1.ConfigMap]

    def __init__(self, name: str, args: DashboardsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("dataops:monitoring:Dashboards", name, None, opts)
        depends_on = [args.operator] if args.operator is not None else []
        self.config_maps = {}
        for file_name, text in dashboards.rendered():
            size = len(file_name.encode()) + len(text.encode())
            if size >= CONFIGMAP_LIMIT_BYTES:
                raise ValueError(f"dashboard {file_name} is {size} bytes: over the 1 MiB ConfigMap limit")
            cm_name = config_map_name(file_name)
            self.config_maps[file_name] = k8s.core.v1.ConfigMap(
                cm_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=cm_name,
                    namespace=args.namespace,
                    labels={**labels(COMPONENT), DASHBOARD_LABEL: "1"},
                    annotations={DASHBOARD_FOLDER_ANNOTATION: args.folder},
                ),
                data={file_name: text},
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
            )
        self.register_outputs({"configMaps": [cm.metadata.name for cm in self.config_maps.values()]})
