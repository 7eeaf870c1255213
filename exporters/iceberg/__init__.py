"""Prometheus exporter for Apache Iceberg table metrics.

Run it with ``python -m exporters.iceberg --help``. See README.md beside this file.
"""

__version__ = "1.0.0"
