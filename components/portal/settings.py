"""Settings of the blackbox probes: the Portal's URLs (user layer) and each service's own health endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from core.parsers import image_ref, parse_string_list, url

from core.settings import PROJECT, Reader, setting

# blackbox_exporter's http prober takes http(s) URLs only; anything else is a probe that always fails.
PORTAL_URL = url("http", "https", example="https://portal.dataops.internal/healthz")

# (setting key, service label, platform layer, what, example URL): the layer is the one of
# dataops:platform:availability:by_layer whose exporter-up value the probe replaces in the SLI.
SERVICE_PROBES: tuple[tuple[str, str, str, str, str], ...] = (
    ("probeAirflowUrl", "airflow", "airflow", "Airflow webserver /health (Airflow 3: /api/v2/monitor/health)", "http://airflow-webserver.airflow.svc:8080/health"),
    ("probeTrinoUrl", "trino", "trino", "Trino coordinator /v1/info", "http://trino.trino.svc:8080/v1/info"),
    ("probeMinioUrl", "minio", "storage", "MinIO /minio/health/cluster (503 without write quorum)", "http://minio.minio.svc:9000/minio/health/cluster"),
    ("probeArgocdUrl", "argocd", "gitops", "Argo CD API server /healthz", "http://argocd-server.argocd.svc/healthz"),
    ("probeJenkinsUrl", "jenkins", "gitops", "Jenkins /login", "http://jenkins.jenkins.svc:8080/login"),
)
SERVICE_URL = url("http", "https", example="http://trino.trino.svc:8080/v1/info")

SETTINGS = (
    setting("portalUrls", "array", "User-facing Portal URLs probed over HTTP by blackbox_exporter (the guide's user layer).", parse_string_list, (), example='["https://portal.dataops.example.com/healthz"]'),
    # One key per service: its own health endpoint, probed by blackbox_exporter (off while unset).
    # The probes feed dataops:service:availability and the platform-availability SLO.
    *(
        setting(key, "string", f"{what} health URL probed by blackbox_exporter (service availability SLI); unset: not probed.", SERVICE_URL, optional=True, example=example)
        for key, _, _, what, example in SERVICE_PROBES
    ),
    setting("blackboxExporterImage", "string", "blackbox_exporter image that probes the Portal.", image_ref, "quay.io/prometheus/blackbox-exporter:v0.28.0"),
)


@dataclass(frozen=True)
class PortalSettings:
    urls: tuple[str, ...]
    blackbox_exporter_image: str
    # (service, layer, url) for every service whose probe URL is set.
    service_probes: tuple[tuple[str, str, str], ...] = ()


def read(reader: Reader) -> PortalSettings:
    urls = reader.items("portalUrls", PORTAL_URL, "https://portal.dataops.internal/healthz")
    services = tuple((service, layer, value) for key, service, layer, _, _ in SERVICE_PROBES if (value := reader.get(key)))
    portal = PortalSettings(urls=urls, blackbox_exporter_image=reader.get("blackboxExporterImage"), service_probes=services)
    if reader.is_prod and not portal.urls:
        reader.problem(
            f"{PROJECT}:portalUrls is empty: prod must probe the user-facing Portal (the user layer). "
            f"Fix: pulumi config set --path '{PROJECT}:portalUrls[0]' https://portal.dataops.internal/healthz"
        )
    return portal
