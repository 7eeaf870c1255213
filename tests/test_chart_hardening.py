"""The chart's pods through our values (components/prometheus_stack/hardening.py): every key we
set exists in kube-prometheus-stack 88.5.3's values (policy/chart-keys/, from the chart's and
its subcharts' values.yaml by tools/chart_keys.py), every container the chart runs gets
requests and limits sized per profile, tokens stay out of pods that never call the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from components.prometheus_stack.hardening import SIZES, hardening_values
from core.parsers import parse_byte_quantity, parse_quantity

ROOT = Path(__file__).resolve().parent.parent
KEYS_FILE = ROOT / "policy" / "chart-keys" / "kube-prometheus-stack-88.5.3.txt"
RELEASE = "kubernetes:helm.sh/v3:Release"
# Kubernetes objects the chart's templates pass through whole (toYaml): their fields are the
# API's, not the chart's; and CR specs the chart hands to the operator.
PASS_THROUGH = {"resources", "securityContext", "containerSecurityContext", "podSecurityContext", "prometheusSpec", "alertmanagerSpec",
                "grafana.ini", "additionalDataSources", "storageSpec", "storage", "ruleSelector"}
# Keys a template reads that values.yaml shows only in a comment (so not in the key list).
COMMENTED_IN_VALUES = {
    "grafana.persistence.storageClassName",  # grafana 12.11.1 templates/pvc.yaml; values.yaml: `# storageClassName: default`
}
# The containers the chart runs with our values, and where their resources are set.
CHART_CONTAINERS = {
    "operator": "prometheusOperator.resources",
    "config-reloader": "prometheusOperator.prometheusConfigReloader.resources",
    "admission-jobs": "prometheusOperator.admissionWebhooks.patch.resources",
    "crd-upgrade-job": "crds.upgradeJob.resources",
    "thanos-sidecar": "prometheus.prometheusSpec.thanos.resources",
    "alertmanager": "alertmanager.alertmanagerSpec.resources",
    "grafana": "grafana.resources",
    "grafana-sidecars": "grafana.sidecar.resources",
    "kube-state-metrics": "kube-state-metrics.resources",
    "node-exporter": "prometheus-node-exporter.resources",
    "prometheus": "prometheus.prometheusSpec.resources",  # from the prometheus* settings
}


def chart_keys() -> tuple[set[str], set[str]]:
    keys, open_maps = set(), set()
    for line in KEYS_FILE.read_text(encoding="utf-8").splitlines():
        path, _, marker = line.partition(" ")
        keys.add(path)
        if marker == "{}":
            open_maps.add(path)
    return keys, open_maps


def leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if not isinstance(values, dict) or not values:
        yield prefix
        return
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if key in PASS_THROUGH:
            yield path
        else:
            yield from leaf_paths(value, path)


def unknown_keys(values: dict) -> list[str]:
    keys, open_maps = chart_keys()

    def known(path: str) -> bool:
        parts = path.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts))]
        return path in keys or path in COMMENTED_IN_VALUES or any(p in open_maps for p in prefixes)

    return sorted(p for p in leaf_paths(values) if not known(p))


def at(values: dict, path: str) -> Any:
    for key in path.split("."):
        values = values[key]
    return values


@pytest.mark.parametrize("stack", ["prod_run", "staging_run"])
def test_every_chart_value_we_set_is_a_key_of_the_chart(stack, request):
    values = request.getfixturevalue(stack).one(RELEASE, "kube-prometheus-stack").inputs["values"]
    assert unknown_keys(values) == []


def test_the_key_check_can_fail():
    assert unknown_keys({"grafana": {"sidecar": {"resourcez": {}}}, "prometheusOperator": {"resources": {"x": 1}}}) == ["grafana.sidecar.resourcez"]
    assert unknown_keys(hardening_values("dev", True)) == []


@pytest.mark.parametrize("stack", ["prod_run", "staging_run"])
def test_every_chart_container_has_requests_and_limits(stack, request):
    values = request.getfixturevalue(stack).one(RELEASE, "kube-prometheus-stack").inputs["values"]
    for container, path in CHART_CONTAINERS.items():
        spec = at(values, path)
        assert set(spec) == {"requests", "limits"} and all(set(spec[k]) == {"cpu", "memory"} for k in spec), container
        for resource, parse in (("cpu", parse_quantity), ("memory", parse_byte_quantity)):
            assert parse(spec["requests"][resource]) <= parse(spec["limits"][resource]), (container, resource)


def test_sizes_grow_from_dev_to_prod():
    assert set(SIZES) == {"dev", "staging", "prod"} and all(set(s) == set(SIZES["prod"]) for s in SIZES.values())
    for container in SIZES["prod"]:
        dev, staging, prod = (parse_byte_quantity(SIZES[p][container][3]) for p in ("dev", "staging", "prod"))
        assert dev <= staging <= prod, container
    assert any(SIZES["dev"][c] != SIZES["prod"][c] for c in SIZES["prod"])


def test_no_token_where_nothing_calls_the_api_and_no_root_init_container(prod_run):
    values = prod_run.one(RELEASE, "kube-prometheus-stack").inputs["values"]
    assert values["alertmanager"]["alertmanagerSpec"]["automountServiceAccountToken"] is False
    assert values["alertmanager"]["serviceAccount"]["automountServiceAccountToken"] is False
    assert values["grafana"]["initChownData"]["enabled"] is False and values["grafana"]["testFramework"]["enabled"] is False
    node_exporter = values["prometheus-node-exporter"]
    assert node_exporter["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert node_exporter["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["grafana"]["sidecar"]["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("stack", ["prod_run", "staging_run"])
def test_grafana_runs_as_a_high_uid_on_a_read_only_root(stack, request):
    """checkov CKV_K8S_40 and CKV_K8S_22 on Grafana's pod (docs/security.md)."""
    grafana = request.getfixturevalue(stack).one(RELEASE, "kube-prometheus-stack").inputs["values"]["grafana"]
    pod = grafana["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000
    # The volume is the fsGroup's: the uid reads and writes it through its group.
    assert pod["fsGroup"] == pod["runAsGroup"]
    assert grafana["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert grafana["sidecar"]["securityContext"]["readOnlyRootFilesystem"] is True
    # Every path Grafana writes is a volume: the PVC (data, plugins), the chart's search-index
    # emptyDir, and /tmp (plugin downloads, SQLite temporary files); logs go to the console.
    assert {"name": "tmp", "mountPath": "/tmp"} in grafana["extraEmptyDirMounts"]
    assert grafana["persistence"]["enabled"] is True
    assert grafana["grafana.ini"].get("log", {}).get("mode", "console") == "console"


@pytest.mark.parametrize("stack", ["prod_run", "staging_run"])
def test_grafana_sidecars_have_probes_on_their_own_health_ports(stack, request):
    """checkov CKV_K8S_8/9: one probe for both sidecars (the chart's sidecar.livenessProbe and
    readinessProbe); it asks the HEALTH_PORT of the container it runs in, distinct per sidecar."""
    sidecar = request.getfixturevalue(stack).one(RELEASE, "kube-prometheus-stack").inputs["values"]["grafana"]["sidecar"]
    for probe in ("livenessProbe", "readinessProbe"):
        command = sidecar[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"] and "os.environ['HEALTH_PORT']" in command[2] and "/healthz" in command[2]
        compile(command[2], probe, "exec")
        assert sidecar[probe]["timeoutSeconds"] < sidecar[probe]["periodSeconds"]
    # /healthz is 503 until the first sync: liveness gives it time before it counts.
    assert sidecar["livenessProbe"]["initialDelaySeconds"] >= 30
    ports = [sidecar[name]["env"]["HEALTH_PORT"] for name in ("dashboards", "datasources")]
    assert len(set(ports)) == 2 and "8080" not in ports  # 8080: k8s-sidecar's default, which both would bind


def _serve_health(status: int):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1), (None, 1)])
def test_the_sidecar_probe_command_follows_healthz(status, exit_code):
    """The probe's Python, as the kubelet runs it in the sidecar (k8s-sidecar's /healthz: 200 OK,
    503 not ready or not live; None: nothing listening), against a stand-in server."""
    import os
    import subprocess
    import sys

    from components.prometheus_stack.hardening import SIDECAR_HEALTH_CHECK

    import socket

    server = _serve_health(status) if status else None
    if server:
        port = server.server_address[1]
    else:  # a port nothing listens on
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
    try:
        result = subprocess.run([sys.executable, "-c", SIDECAR_HEALTH_CHECK], env={**os.environ, "HEALTH_PORT": str(port)},
                                capture_output=True, timeout=30)
        assert result.returncode == exit_code, result.stderr
    finally:
        if server:
            server.shutdown()
            server.server_close()
