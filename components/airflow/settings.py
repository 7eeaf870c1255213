"""Settings of Airflow monitoring: the statsd_exporter that receives Airflow's statsd metrics."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Reader, image_ref, setting

SETTINGS = (
    setting("statsdExporterImage", "string", "prometheus statsd_exporter image that receives Airflow's statsd metrics.", image_ref, "prom/statsd-exporter:v0.28.0"),
)


@dataclass(frozen=True)
class AirflowSettings:
    statsd_exporter_image: str


def read(reader: Reader) -> AirflowSettings:
    return AirflowSettings(statsd_exporter_image=reader.get("statsdExporterImage"))
