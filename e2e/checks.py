"""What the e2e checks in the cluster and in the engine's JSON, as plain functions."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import urllib.request
from pathlib import Path

import yaml

from e2e.kube import Kube

NAMESPACE = "monitoring"
PROMETHEUS = "kube-prometheus-stack-prometheus"
MONITOR_KINDS = {"ServiceMonitor": "serviceMonitor", "PodMonitor": "podMonitor", "Probe": "probe", "ScrapeConfig": "scrapeConfig"}


def short_urn(urn: str) -> str:
    """``urn:pulumi:stack::project::a$b::name`` -> ``b::name``; the Stack itself -> ""."""
    if not urn:
        return ""
    parts = urn.split("::")
    resource_type = parts[2].split("$")[-1]
    return "" if resource_type == "pulumi:pulumi:Stack" else f"{resource_type}::{parts[3]}"


def _resource_steps(preview: dict):
    """(step, type, name, parent) of each step of a preview's JSON, the Stack itself left out."""
    for step in preview.get("steps", []):
        state = step.get("newState") or step.get("oldState") or {}
        urn = step.get("urn") or state.get("urn", "")
        resource_type = urn.split("::")[2].split("$")[-1]
        if resource_type != "pulumi:pulumi:Stack":
            yield step, resource_type, urn.split("::")[-1], short_urn(state.get("parent", ""))


def preview_resources(preview: dict) -> set[tuple[str, str, str]]:
    """(type, name, parent) of every resource a real preview would create or keep."""
    return {(resource_type, name, parent) for _step, resource_type, name, parent in _resource_steps(preview)}


def render_resources(document: dict) -> set[tuple[str, str, str]]:
    """The same triples from the mock engine's resources.json (the Stack as parent is "")."""
    return {(r["type"], r["name"], "" if r["parent"].startswith("pulumi:pulumi:Stack::") else r["parent"]) for r in document["resources"]}


def changed_steps(preview: dict) -> dict[tuple[str, str], str]:
    """(type, name) -> op for every step that is not 'same'."""
    return {(resource_type, name): step["op"] for step, resource_type, name, _parent in _resource_steps(preview) if step.get("op") not in ("same", None)}


def our_objects(kube: Kube, kind: str) -> list[dict]:
    plural = {"ServiceMonitor": "servicemonitors", "PodMonitor": "podmonitors", "Probe": "probes", "ScrapeConfig": "scrapeconfigs", "PrometheusRule": "prometheusrules"}[kind]
    version = "v1alpha1" if kind == "ScrapeConfig" else "v1"
    return kube.items(f"/apis/monitoring.coreos.com/{version}/namespaces/{NAMESPACE}/{plural}")


def generated_config(kube: Kube) -> str:
    """The Prometheus configuration the operator generated (its Secret, gzipped)."""
    secret = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/prometheus-{PROMETHEUS}")
    return gzip.decompress(base64.b64decode(secret["data"]["prometheus.yaml.gz"])).decode()


def missing_scrape_jobs(kube: Kube, config_text: str) -> list[str]:
    """Every monitor in the namespace (ours and the chart's) must have a scrape job."""
    jobs = [job["job_name"] for job in (yaml.safe_load(config_text).get("scrape_configs") or [])]
    missing = []
    for kind, prefix in MONITOR_KINDS.items():
        for item in our_objects(kube, kind):
            want = f"{prefix}/{NAMESPACE}/{item['metadata']['name']}"
            if not any(job == want or job.startswith(want + "/") for job in jobs):
                missing.append(f"{kind} {item['metadata']['name']}")
    return missing


def check_config_with_promtool(promtool: Path, config_text: str, work: Path) -> str:
    """`promtool check config --syntax-only`: the referenced files (tokens, TLS) live in the pod."""
    path = work / "generated-prometheus.yaml"
    path.write_text(config_text)
    result = subprocess.run([str(promtool), "check", "config", "--syntax-only", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"promtool check config failed on the operator's configuration:\n{result.stdout}{result.stderr}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "SUCCESS"


def missing_rule_files(kube: Kube) -> list[str]:
    """Every PrometheusRule selected for Prometheus or the Thanos Ruler is in a rule ConfigMap."""
    loaded = set()
    for configmap in kube.items(f"/api/v1/namespaces/{NAMESPACE}/configmaps"):
        if "-rulefiles-" in configmap["metadata"]["name"]:
            loaded.update((configmap.get("data") or {}).keys())
    missing = []
    for rule in our_objects(kube, "PrometheusRule"):
        labels = rule["metadata"].get("labels") or {}
        if labels.get("dataops.io/rules") != "true":
            continue
        prefix = f"{NAMESPACE}-{rule['metadata']['name']}-"
        if not any(key.startswith(prefix) for key in loaded):
            missing.append(rule["metadata"]["name"])
    return missing


def operator_metrics(port: int) -> dict[str, float]:
    """The operator's own /metrics, as 'name{labels}' -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            try:
                values[series] = float(value)
            except ValueError:
                continue
    return values


def operator_rejections(port: int) -> dict[str, float]:
    """Resources the operator rejected (invalid monitors or rules) and failed syncs."""
    return {
        series: value
        for series, value in operator_metrics(port).items()
        if value > 0
        and (
            (series.startswith("prometheus_operator_managed_resources") and 'state="rejected"' in series)
            or (series.startswith("prometheus_operator_syncs") and 'status="failed"' in series)
        )
    }


def statefulset_args(kube: Kube, name: str) -> list[str]:
    sts = kube.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{name}")
    return [arg for container in sts["spec"]["template"]["spec"]["containers"] for arg in container.get("args", [])]


def secret_value(kube: Kube, name: str, key: str) -> str:
    secret = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    return base64.b64decode(secret["data"][key]).decode()


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
