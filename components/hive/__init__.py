"""HiveMonitoring: the Hive Metastore (data layer): Thrift TCP probe and the jmx_exporter agent.

* Probe ``hive-metastore-thrift``: blackbox_exporter's ``tcp_connect`` module (deployed by
  PortalMonitoring, which owns the stack's blackbox_exporter) against
  ``hiveMetastoreThriftAddress``; HiveMetastoreDown reads its ``probe_success``.
* PodMonitor ``hive-metastore`` (job ``<namespace>/hive-metastore``) when
  ``hiveMetastoreNamespace`` is set: pods labelled ``app.kubernetes.io/name: hive-metastore``
  with a container port ``jmx-metrics`` running jmx_prometheus_javaagent 0.20.0 with the
  config of docs/layers-research.md (hive_metastore_* and the agent's jvm_* series).

Both job names match ``(.+/)?hive-metastore.*``, what rules/hive.rules.yaml and the hive
layer of dataops:platform:availability select.
"""

from __future__ import annotations


import pulumi
import pulumi_kubernetes as k8s

from components.hive.settings import HiveSettings
from components.portal import TCP_MODULE  # blackbox_config(tcp_connect=True)
from core.k8s import keep_metrics, labels, monitor
from core.rules import domain_rule
from core.layers import Layer
from core.wiring import Wiring

COMPONENT = "hive-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-04-data"
DOMAIN = "hive"  # rules/hive.rules.yaml -> PrometheusRule dataops-hive
PROBE_JOB = "hive-metastore-thrift"
POD_MONITOR = "hive-metastore"
POD_SELECTOR = {"app.kubernetes.io/name": "hive-metastore"}
JMX_PORT_NAME = "jmx-metrics"
# What rules/hive.rules.yaml, rules/jvm.rules.yaml and the data dashboard read.
HIVE_KEEP = r"hive_metastore_.+|jvm_memory_bytes_(used|max)|jvm_gc_collection_seconds_(sum|count)"


class HiveMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, settings: HiveSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:HiveMonitoring", name, None, wiring.opts)
        # The Thrift probe goes through the stack's blackbox_exporter (PortalMonitoring runs it
        # whenever this layer is on).
        prober = wiring.prober
        if prober is None:
            raise ValueError("HiveMonitoring needs the stack's blackbox_exporter (wiring.prober)")
        self.probe = k8s.apiextensions.CustomResource(
            PROBE_JOB,
            api_version="monitoring.coreos.com/v1",
            kind="Probe",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROBE_JOB, namespace=wiring.namespace, labels=labels(COMPONENT)),
            spec={
                "jobName": PROBE_JOB,
                "interval": "30s",
                "module": TCP_MODULE,
                "prober": {"url": prober.prober_address, "path": "/probe"},
                "targets": {"staticConfig": {"static": [settings.thrift_address], "labels": {"layer": "data"}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[wiring.operator, prober.service]),
        )
        self.pod_monitor = None
        if settings.namespace:
            self.pod_monitor = monitor(
                "PodMonitor",
                POD_MONITOR,
                wiring.namespace,
                {
                    "namespaceSelector": {"matchNames": [settings.namespace]},
                    "selector": {"matchLabels": dict(POD_SELECTOR)},
                    "podMetricsEndpoints": [
                        {"port": JMX_PORT_NAME, "path": "/metrics", "interval": "30s", "metricRelabelings": keep_metrics(HIVE_KEEP)}
                    ],
                },
                self,
                wiring.operator,
                COMPONENT,
            )
        self.rules = domain_rule(DOMAIN, wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"thriftAddress": settings.thrift_address, "hiveNamespace": settings.namespace or ""})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("hive", jobs="(.+/)?hive-metastore.*", component=HiveMonitoring, deployed=lambda settings: settings.enabled, dashboard_part="hive", runs_jvm=True)
