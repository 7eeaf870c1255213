"""Custom Prometheus exporters shipped with the dataops-monitoring project."""
