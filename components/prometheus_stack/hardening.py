"""Security posture of the chart's own pods, through kube-prometheus-stack 88.5.3 values.

What the chart's defaults leave open and these values close (checkov's Kubernetes checks,
tools/checkov_chart.py): CPU/memory requests and limits on every container the chart runs
(sized per profile, dev small), no service account token where the component never calls the
API server (Alertmanager, node-exporter), seccomp RuntimeDefault and no privilege escalation
on node-exporter, Grafana as uid 65534 on a read-only root filesystem (with its sidecars), probes
on Grafana's sidecars, no root init container (Grafana's chown: the volume's fsGroup already
gives the grafana user its files) and no Helm test pod. Every key exists in the chart's values (policy/chart-keys/, checked by
tests/test_chart_hardening.py). Prometheus' own resources come from its settings.
"""

from __future__ import annotations

from typing import Any

from core.k8s import RUNTIME_DEFAULT_SECCOMP

# (cpu request, memory request, cpu limit, memory limit) per container, per profile.
Size = tuple[str, str, str, str]
SIZES: dict[str, dict[str, Size]] = {
    "dev": {
        "operator": ("20m", "64Mi", "200m", "256Mi"),
        "config-reloader": ("5m", "16Mi", "50m", "64Mi"),
        "admission-jobs": ("10m", "32Mi", "100m", "64Mi"),
        "crd-upgrade-job": ("50m", "64Mi", "500m", "256Mi"),
        "thanos-sidecar": ("20m", "64Mi", "500m", "256Mi"),
        "alertmanager": ("10m", "32Mi", "100m", "128Mi"),
        "grafana": ("50m", "128Mi", "500m", "512Mi"),
        "grafana-sidecars": ("10m", "32Mi", "100m", "128Mi"),
        "kube-state-metrics": ("20m", "64Mi", "200m", "256Mi"),
        "node-exporter": ("10m", "24Mi", "100m", "64Mi"),
    },
    "staging": {
        "operator": ("50m", "128Mi", "500m", "512Mi"),
        "config-reloader": ("10m", "32Mi", "100m", "64Mi"),
        "admission-jobs": ("10m", "32Mi", "100m", "64Mi"),
        "crd-upgrade-job": ("50m", "64Mi", "500m", "256Mi"),
        "thanos-sidecar": ("50m", "128Mi", "1", "512Mi"),
        "alertmanager": ("20m", "64Mi", "200m", "256Mi"),
        "grafana": ("100m", "256Mi", "1", "1Gi"),
        "grafana-sidecars": ("20m", "64Mi", "200m", "256Mi"),
        "kube-state-metrics": ("50m", "128Mi", "500m", "512Mi"),
        "node-exporter": ("20m", "32Mi", "200m", "128Mi"),
    },
    "prod": {
        "operator": ("100m", "256Mi", "1", "1Gi"),
        "config-reloader": ("10m", "32Mi", "100m", "128Mi"),
        "admission-jobs": ("10m", "32Mi", "100m", "64Mi"),
        "crd-upgrade-job": ("50m", "64Mi", "500m", "256Mi"),
        "thanos-sidecar": ("100m", "256Mi", "1", "1Gi"),
        "alertmanager": ("50m", "128Mi", "500m", "512Mi"),
        "grafana": ("200m", "512Mi", "2", "2Gi"),
        "grafana-sidecars": ("20m", "64Mi", "200m", "256Mi"),
        # kube-state-metrics' memory grows with the number of objects in the cluster.
        "kube-state-metrics": ("100m", "256Mi", "1", "1Gi"),
        "node-exporter": ("50m", "64Mi", "250m", "128Mi"),
    },
}


def resources(profile: str, container: str) -> dict[str, dict[str, str]]:
    cpu, memory, cpu_limit, memory_limit = SIZES.get(profile, SIZES["dev"])[container]
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


# The image's own Python (python:alpine, k8s-sidecar Dockerfile) asks its /healthz; no shell needed.
SIDECAR_HEALTH_CHECK = (
    "import http.client, os, sys; "
    "c = http.client.HTTPConnection('localhost', int(os.environ['HEALTH_PORT']), timeout=4); "
    "c.request('GET', '/healthz'); sys.exit(c.getresponse().status != 200)"
)


def sidecar_probe(period: int, failures: int) -> dict[str, Any]:
    return {"exec": {"command": ["python", "-c", SIDECAR_HEALTH_CHECK]}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}


def hardening_values(profile: str, with_thanos_sidecar: bool) -> dict[str, Any]:
    """Helm values for the chart's pods (merged into chart_values)."""
    size = lambda container: resources(profile, container)  # noqa: E731
    prometheus_spec: dict[str, Any] = {}
    if with_thanos_sidecar:
        prometheus_spec["thanos"] = {"resources": size("thanos-sidecar")}
    values: dict[str, Any] = {
        "prometheusOperator": {
            "resources": size("operator"),
            # The config-reloader sidecars the operator adds to Prometheus and Alertmanager pods.
            "prometheusConfigReloader": {"resources": size("config-reloader")},
            # The create-secret and patch-webhook Jobs (one resources key for both).
            "admissionWebhooks": {
                "patch": {
                    "resources": size("admission-jobs"),
                    # The chart runs them as uid/gid 2000, which can be a real account on a node;
                    # nobody (65534), like our own pods (checkov CKV_K8S_40). The certgen image
                    # reads and writes only the API (the webhook's TLS Secret and configurations).
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                },
            },
        },
        "crds": {"upgradeJob": {"resources": size("crd-upgrade-job")}},
        "alertmanager": {
            "alertmanagerSpec": {"resources": size("alertmanager")},
            # Alertmanager reads mounted files only (its pod already opts out; the account too).
            "serviceAccount": {"automountServiceAccountToken": False},
        },
        "grafana": {
            "resources": size("grafana"),
            # Nobody (65534) instead of the chart's 472 (checkov CKV_K8S_40), as kube-prometheus
            # runs Grafana: the image makes its data, logs, plugins and provisioning folders
            # world-writable (chmod -R 777, grafana/grafana Dockerfile) and the volume is the
            # fsGroup's (Kubernetes gives it group ownership and g+rw on every mount).
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            # Grafana writes to its volume, the chart's search-index emptyDir and /tmp (plugin
            # downloads, SQLite's temporary files): the root filesystem can be read-only
            # (checkov CKV_K8S_22). Logs go to the console (the chart's grafana.ini log.mode).
            "containerSecurityContext": {"readOnlyRootFilesystem": True},
            "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "sidecar": {
                "resources": size("grafana-sidecars"),
                # The sidecars write only to their emptyDir folders.
                "securityContext": {"readOnlyRootFilesystem": True},
                # k8s-sidecar serves /healthz on HEALTH_PORT: 503 until its first sync, and when a
                # watcher thread died (checkov CKV_K8S_8/9). The chart has one probe for both
                # sidecars, which share the pod's network: each gets its own port (the chart's
                # numbers for its native sidecars) and the probe asks the port of its container.
                # /healthz answers 503 until the first sync: liveness waits (the README's 35 s).
                "livenessProbe": {**sidecar_probe(period=30, failures=3), "initialDelaySeconds": 35},
                "readinessProbe": sidecar_probe(period=10, failures=3),
                "dashboards": {"env": {"HEALTH_PORT": "8084"}},
                "datasources": {"env": {"HEALTH_PORT": "8082"}},
            },
            # The root chown init container: fsGroup on the pod already gives grafana its volume.
            "initChownData": {"enabled": False},
            # The chart's `helm test` pod: never run by our deploys.
            "testFramework": {"enabled": False},
        },
        "kube-state-metrics": {"resources": size("kube-state-metrics")},
        "prometheus-node-exporter": {
            "resources": size("node-exporter"),
            "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        },
    }
    if prometheus_spec:
        values["prometheus"] = {"prometheusSpec": prometheus_spec}
    return values
