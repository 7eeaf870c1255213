"""SparkMonitoring: spark-operator controller, Spark drivers/executors (JMX), SparkApplication state."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.spark.settings import SparkSettings
from core.layers import Layer
from core.wiring import Wiring
from core.k8s import dump_yaml, keep_metrics, labels, load_asset, monitor
from core.rules import domain_rule

COMPONENT = "spark-monitoring"
# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-03-workload"
JMX_CONFIGMAP = "spark-jmx-config"
JMX_CONFIG_KEY = "config.yaml"
JMX_PORT_NAME = "jmx-metrics"  # the containerPort name SparkApplications declare (components/assets/spark-application-example.yaml)
SPARK_OPERATOR_PORT_NAME = "metrics"  # kubeflow spark-operator chart: prometheus.metrics.portName

# Only what rules and dashboards read is kept: a Spark JVM exposes hundreds of series per
# executor, and executors come and go with every job.
SPARK_JVM_KEEP = r"jvm_memory_bytes_(used|max)|jvm_gc_collection_seconds_(sum|count)|spark_(driver|executor)_.+"
SPARK_OPERATOR_KEEP = r"spark_(application|executor)_.+"


def chart_values() -> dict[str, Any]:
    """kube-state-metrics custom resource state for SparkApplications, with read-only RBAC on them.

    This is why the guide's ClusterRole reads sparkoperator.k8s.io/sparkapplications;
    PrometheusStack merges it into the chart values (kube-state-metrics is its subchart).
    """
    return {
        "kube-state-metrics": {
            "customResourceState": {"enabled": True, "config": load_asset(__file__, "spark-ksm-customresourcestate.yaml")},
            "rbac": {
                "extraRules": [
                    {
                        "apiGroups": ["sparkoperator.k8s.io"],
                        "resources": ["sparkapplications"],
                        "verbs": ["get", "list", "watch"],
                    }
                ]
            },
        }
    }


def _spark_pod_relabelings() -> list[dict[str, Any]]:
    # Pod labels Spark and the operator set: spark-app-selector (the application id),
    # spark-exec-id (executors only), sparkoperator.k8s.io/app-name (the SparkApplication).
    return [
        {"sourceLabels": ["__meta_kubernetes_pod_label_spark_app_selector"], "targetLabel": "spark_app_id", "action": "replace"},
        {"sourceLabels": ["__meta_kubernetes_pod_label_spark_exec_id"], "targetLabel": "executor_id", "action": "replace"},
        {"sourceLabels": ["__meta_kubernetes_pod_label_sparkoperator_k8s_io_app_name"], "targetLabel": "job_name", "action": "replace"},
        {"sourceLabels": ["__meta_kubernetes_pod_label_spark_role"], "targetLabel": "spark_role", "action": "replace"},
        {"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace", "action": "replace"},
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod", "action": "replace"},
    ]


class SparkMonitoring(pulumi.ComponentResource):
    operator_monitor: k8s.apiextensions.CustomResource
    application_monitor: k8s.apiextensions.CustomResource
    jmx_config_maps: list[k8s.core.v1.ConfigMap]

    def __init__(self, name: str, settings: SparkSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:SparkMonitoring", name, None, wiring.opts)

        self.operator_monitor = monitor(
            "PodMonitor",
            "spark-operator",
            wiring.namespace,
            {
                "namespaceSelector": {"matchNames": [settings.operator_namespace]},
                "selector": {
                    "matchLabels": {"app.kubernetes.io/name": "spark-operator", "app.kubernetes.io/component": "controller"}
                },
                "podMetricsEndpoints": [
                    {
                        "port": SPARK_OPERATOR_PORT_NAME,
                        "path": "/metrics",
                        "interval": "30s",
                        # The operator labels its series with the SparkApplication's namespace
                        # (run it with --metrics-labels=namespace); without honorLabels the
                        # operator pod's own namespace would overwrite it.
                        "honorLabels": True,
                        "metricRelabelings": keep_metrics(SPARK_OPERATOR_KEEP),
                    }
                ],
            },
            self,
            wiring.operator,
            COMPONENT,
        )

        # Drivers and executors come and go: a PodMonitor finds them without a Service per job.
        self.application_monitor = monitor(
            "PodMonitor",
            "spark-applications",
            wiring.namespace,
            {
                "namespaceSelector": {"matchNames": list(settings.namespaces)},
                "selector": {"matchExpressions": [{"key": "spark-role", "operator": "In", "values": ["driver", "executor"]}]},
                "podMetricsEndpoints": [
                    {
                        "port": JMX_PORT_NAME,
                        "path": "/metrics",
                        "interval": "15s",
                        "relabelings": _spark_pod_relabelings(),
                        "metricRelabelings": keep_metrics(SPARK_JVM_KEEP),
                    }
                ],
            },
            self,
            wiring.operator,
            COMPONENT,
        )

        jmx_config = dump_yaml(load_asset(__file__, "spark-jmx-exporter.yaml"))
        self.jmx_config_maps = [
            k8s.core.v1.ConfigMap(
                f"{JMX_CONFIGMAP}-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=JMX_CONFIGMAP, namespace=namespace, labels=labels(COMPONENT)),
                data={JMX_CONFIG_KEY: jmx_config},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for namespace in settings.namespaces
        ]
        self.rules = domain_rule("spark", wiring, self, COMPONENT, DASHBOARD)
        self.register_outputs({"jmxConfigMap": JMX_CONFIGMAP, "sparkNamespaces": list(settings.namespaces)})


# This domain's platform layer (core.layers): its scrape jobs count in platform availability when the stack deploys it.
LAYER = Layer("spark", jobs="(.+/)?spark.*", component=SparkMonitoring, chart_values=chart_values, deployed=lambda settings: settings.enabled, runs_jvm=True)
