"""Stack settings: the composition of every domain's settings plus the cross-domain checks.

Each domain declares its keys, defaults, typed dataclass and validation next to its
component (``components/<domain>/settings.py``); the reader and error type are shared
(``core/settings.py``). ``load_settings()`` reads every domain and raises one
``SettingsError`` listing every problem, each naming the key, the bad value and the
``pulumi config`` command that fixes it. ``Pulumi.yaml`` and the README settings table
are generated from ``SETTINGS_SCHEMA`` (``make pulumi-yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.airflow import settings as airflow
from components.alerting import settings as alerting
from components.gitops import settings as gitops
from components.iceberg import settings as iceberg
from components.portal import settings as portal
from components.prometheus_stack import settings as prometheus_stack
from components.slo import settings as slo
from components.spark import settings as spark
from components.storage import settings as storage
from components.thanos import settings as thanos
from components.trino import settings as trino
from core.rules import Links
from core.settings import (
    PROJECT,
    Reader,
    Setting,
    SettingsError,
    one_of,
    parse_dns_label,
    parse_duration,
    parse_quantity,
    setting,
)

ENVIRONMENTS = ("staging", "prod")

STACK_SETTINGS = (
    setting("environment", "string", "Which environment this stack is: staging or prod. Prod enforces secrets and HA.", one_of(*ENVIRONMENTS), example="prod"),
    setting("clusterName", "string", "Cluster name, used as the 'cluster' external label and in alert routing.", parse_dns_label, example="dataops-prod"),
    setting("namespace", "string", "Namespace for the monitoring stack.", parse_dns_label, "monitoring"),
    setting("storageClass", "string", "StorageClass for every monitoring volume (Prometheus, Alertmanager, Grafana, Thanos).", parse_dns_label, "longhorn"),
)

# Order is the order of Pulumi.yaml and the README table.
SETTINGS_SCHEMA: tuple[Setting, ...] = (
    STACK_SETTINGS
    + prometheus_stack.SETTINGS
    + alerting.SETTINGS
    + thanos.SETTINGS
    + spark.SETTINGS
    + airflow.SETTINGS
    + trino.SETTINGS
    + storage.SETTINGS
    + gitops.SETTINGS
    + portal.SETTINGS
    + iceberg.SETTINGS
    + slo.SETTINGS
)
SCHEMA_BY_KEY = {s.key: s for s in SETTINGS_SCHEMA}

__all__ = ["PROJECT", "SETTINGS_SCHEMA", "SCHEMA_BY_KEY", "SettingsError", "StackSettings", "load_settings", "parse_duration", "parse_quantity"]


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    environment: str
    cluster_name: str
    namespace: str
    storage_class: str
    chart: prometheus_stack.ChartSettings
    prometheus: prometheus_stack.PrometheusSettings
    grafana: prometheus_stack.GrafanaSettings
    alertmanager: prometheus_stack.AlertmanagerSettings
    routing: alerting.RoutingSettings
    thanos: thanos.ThanosSettings
    spark: spark.SparkSettings
    airflow: airflow.AirflowSettings
    trino: trino.TrinoSettings
    storage: storage.StorageSettings
    gitops: gitops.GitOpsSettings
    portal: portal.PortalSettings
    iceberg: iceberg.IcebergSettings
    slos: tuple[slo.SloSpec, ...]

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def external_labels(self) -> dict[str, str]:
        return {"cluster": self.cluster_name, "environment": self.environment, "platform": "dataops"}

    @property
    def links(self) -> Links:
        return Links(runbook_base_url=self.routing.runbook_base_url, grafana_url=self.grafana.url)


def load_settings(config: Optional[pulumi.Config] = None) -> StackSettings:
    """Read and validate the whole stack configuration, or raise SettingsError listing every problem."""
    reader = Reader(SETTINGS_SCHEMA, config)
    reader.check_unknown_keys()
    reader.environment = reader.get("environment") or ""
    stack_settings = prometheus_stack.read(reader)
    values = dict(
        cluster_name=reader.get("clusterName"),
        namespace=reader.get("namespace"),
        storage_class=reader.get("storageClass"),
        chart=stack_settings.chart,
        prometheus=stack_settings.prometheus,
        grafana=stack_settings.grafana,
        alertmanager=stack_settings.alertmanager,
        routing=alerting.read(reader),
        thanos=thanos.read(reader),
        spark=spark.read(reader),
        airflow=airflow.read(reader),
        trino=trino.read(reader),
        storage=storage.read(reader),
        gitops=gitops.read(reader),
        portal=portal.read(reader),
        iceberg=iceberg.read(reader),
        slos=slo.read(reader, stack_settings.prometheus.retention),
    )
    if reader.problems:
        raise SettingsError(reader.problems)
    return StackSettings(project=pulumi.get_project(), stack=pulumi.get_stack(), environment=reader.environment, **values)
