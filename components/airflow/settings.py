"""Settings of Airflow monitoring: the statsd_exporter that receives Airflow's statsd metrics."""

from __future__ import annotations

from dataclasses import dataclass

from core.parsers import parse_bool, image_ref, parse_dns_label, parse_string_list

from core.settings import PROJECT, Reader, setting

SETTINGS = (
    setting("airflowEnabled", "boolean", "Monitor Airflow (statsd_exporter, its ServiceMonitor and rules); false where the platform runs no Airflow.", parse_bool, True),
    setting("statsdExporterImage", "string", "prometheus statsd_exporter image that receives Airflow's statsd metrics.", image_ref, "prom/statsd-exporter:v0.28.0"),
    setting("airflowNamespaces", "array", "Namespaces where Airflow runs: the only sources statsd_exporter accepts statsd packets from (NetworkPolicy).", parse_string_list, ("airflow",), example='["airflow"]'),
)


@dataclass(frozen=True)
class AirflowSettings:
    statsd_exporter_image: str
    namespaces: tuple[str, ...] = ("airflow",)
    enabled: bool = True


def read(reader: Reader) -> AirflowSettings:
    namespaces = reader.items("airflowNamespaces", parse_dns_label, "airflow")
    if not namespaces and reader.raw("airflowNamespaces") is not None:
        # The statsd NetworkPolicy selects these namespaces; an empty list is an invalid selector.
        reader.problem(f"{PROJECT}:airflowNamespaces is empty: statsd_exporter would accept Airflow's metrics from nowhere. Fix: pulumi config set --path '{PROJECT}:airflowNamespaces[0]' airflow")
    return AirflowSettings(statsd_exporter_image=reader.get("statsdExporterImage"), namespaces=namespaces, enabled=bool(reader.get("airflowEnabled")))
