"""Settings of Spark monitoring: where drivers/executors and the spark-operator run."""

from __future__ import annotations

from dataclasses import dataclass

from core.parsers import parse_bool, parse_dns_label, parse_string_list

from core.settings import Reader, setting

SETTINGS = (
    setting("sparkEnabled", "boolean", "Monitor Spark (spark-operator and driver/executor PodMonitors, JMX config, Spark and JVM rules); false where the platform runs no Spark.", parse_bool, True),
    setting("sparkNamespaces", "array", "Namespaces where Spark drivers and executors run.", parse_string_list, ("spark-jobs", "data-processing"), example='["spark-jobs","data-processing"]'),
    setting("sparkOperatorNamespace", "string", "Namespace of the kubeflow spark-operator controller.", parse_dns_label, "spark-operator"),
)


@dataclass(frozen=True)
class SparkSettings:
    namespaces: tuple[str, ...]
    operator_namespace: str
    enabled: bool = True


def read(reader: Reader) -> SparkSettings:
    # One JMX ConfigMap per namespace: a namespace listed twice would be two resources with one name.
    namespaces = reader.items("sparkNamespaces", parse_dns_label, "spark-jobs")
    return SparkSettings(namespaces=namespaces, operator_namespace=reader.get("sparkOperatorNamespace"), enabled=bool(reader.get("sparkEnabled")))
