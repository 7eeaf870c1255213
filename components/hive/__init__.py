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

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.portal import TCP_MODULE  # blackbox_config(tcp_connect=True)
from core.k8s import keep_metrics, labels, monitor
from core.rules import Links, RuleTarget, domain_rule

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


@dataclass(frozen=True)
class HiveMonitoringArgs:
    namespace: pulumi.Input[str]  # where the probe, monitor and rules live (monitoring)
    thrift_address: str  # host:port probed over TCP
    hive_namespace: Optional[str]  # where the metastore pods run; None: no JMX scrape
    prober_address: pulumi.Input[str]  # blackbox_exporter host:port (PortalMonitoring.prober_address)
    prober: pulumi.Resource  # the blackbox_exporter Service the probe goes through
    operator: pulumi.Resource
    links: Links  # where alerts' runbook and dashboard links point


class HiveMonitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: HiveMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("dataops:monitoring:HiveMonitoring", name, None, opts)
        self.probe = k8s.apiextensions.CustomResource(
            PROBE_JOB,
            api_version="monitoring.coreos.com/v1",
            kind="Probe",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROBE_JOB, namespace=args.namespace, labels=labels(COMPONENT)),
            spec={
                "jobName": PROBE_JOB,
                "interval": "30s",
                "module": TCP_MODULE,
                "prober": {"url": args.prober_address, "path": "/probe"},
                "targets": {"staticConfig": {"static": [args.thrift_address], "labels": {"layer": "data"}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.operator, args.prober]),
        )
        self.pod_monitor = None
        if args.hive_namespace:
            self.pod_monitor = monitor(
                "PodMonitor",
                POD_MONITOR,
                args.namespace,
                {
                    "namespaceSelector": {"matchNames": [args.hive_namespace]},
                    "selector": {"matchLabels": dict(POD_SELECTOR)},
                    "podMetricsEndpoints": [
                        {"port": JMX_PORT_NAME, "path": "/metrics", "interval": "30s", "metricRelabelings": keep_metrics(HIVE_KEEP)}
                    ],
                },
                self,
                args.operator,
                COMPONENT,
            )
        self.rules = domain_rule(DOMAIN, RuleTarget(args.namespace, args.operator, args.links), self, COMPONENT, DASHBOARD)
        self.register_outputs({"thriftAddress": args.thrift_address, "hiveNamespace": args.hive_namespace or ""})
