"""kube-state-metrics as the chart runs it, pointed at a local API server on 127.0.0.1:
tests/test_real_kube_state_metrics.py and the game day's kube-state-metrics target
(tools/gameday/real_k8s.py) start it with these arguments."""

from __future__ import annotations

from pathlib import Path

# The kube-state-metrics chart's default `collectors` (values.yaml since chart 6.x; neither
# kube-prometheus-stack nor we change them): the chart passes them as --resources. With
# --resources set, kube-state-metrics v2.20 still adds the custom resources its config names
# (internal/discovery PollForCacheUpdates).
CHART_COLLECTORS = (
    "certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments", "endpoints",
    "endpointslices", "horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges", "mutatingwebhookconfigurations",
    "namespaces", "networkpolicies", "nodes", "persistentvolumeclaims", "persistentvolumes",
    "poddisruptionbudgets", "pods", "replicasets", "replicationcontrollers", "resourcequotas", "secrets",
    "services", "statefulsets", "storageclasses", "validatingwebhookconfigurations", "volumeattachments",
)


def args(binary: str, port: int, telemetry_port: int, kubeconfig: Path, custom_resource_config: Path) -> list[str]:
    return [
        binary,
        # What the chart passes (charts/kube-state-metrics/templates/deployment.yaml) ...
        f"--port={port}",
        f"--resources={','.join(CHART_COLLECTORS)}",
        f"--custom-resource-state-config-file={custom_resource_config}",
        # ... and where this one runs: the local API server, loopback only (the chart passes no
        # telemetry flags; kube-state-metrics' default telemetry address is every interface).
        f"--kubeconfig={kubeconfig}",
        "--host=127.0.0.1",
        "--telemetry-host=127.0.0.1",
        f"--telemetry-port={telemetry_port}",
    ]
