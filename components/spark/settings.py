"""Settings of Spark monitoring: where drivers/executors and the spark-operator run."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import PROJECT, Reader, parse_dns_label, parse_string_list, setting

SETTINGS = (
    setting("sparkNamespaces", "array", "Namespaces where Spark drivers and executors run.", parse_string_list, ("spark-jobs", "data-processing"), example='["spark-jobs","data-processing"]'),
    setting("sparkOperatorNamespace", "string", "Namespace of the kubeflow spark-operator controller.", parse_dns_label, "spark-operator"),
)


@dataclass(frozen=True)
class SparkSettings:
    namespaces: tuple[str, ...]
    operator_namespace: str


def read(reader: Reader) -> SparkSettings:
    namespaces = tuple(reader.get("sparkNamespaces"))
    for index, ns in enumerate(namespaces):
        try:
            parse_dns_label(ns)
        except ValueError as err:
            reader.problem(f"{PROJECT}:sparkNamespaces[{index}] = {ns!r}: {err}. Fix: pulumi config set --path '{PROJECT}:sparkNamespaces[{index}]' spark-jobs")
    return SparkSettings(namespaces=namespaces, operator_namespace=reader.get("sparkOperatorNamespace"))
