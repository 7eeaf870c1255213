"""kube-state-metrics for real: v2.20.0 (the chart's, built by `make tools`) against the local
control plane of `make e2e` (e2e/cluster.py: etcd, kube-apiserver, controller manager, scheduler
and kwok, all on 127.0.0.1), with the custom-resource-state config exactly as our chart values
render it for prod, and the flags the kube-state-metrics chart passes for it.

What the cluster holds:
- SparkApplications (sparkoperator.k8s.io/v1beta2) in the states COMPLETED, FAILED and RUNNING,
  with the status the spark-operator writes (sparkApplicationId, executionAttempts,
  terminationTime: null while it runs, as the operator marshals a zero metav1.Time), and one
  just created (no status yet). The CRD is a STAND-IN: the real spark-operator CRD is not at hand,
  so ours has the real group, version, kind, names and status subresource with an open schema
  (x-kubernetes-preserve-unknown-fields).
- kwok pods in the workload namespaces: four Spark executors killed by OOMKilled
  (restartPolicy Never) and an Airflow pod restarted twice after OOMKilled. kwok's stages cannot
  express an OOM kill (its fast stages only make pods Running, and Job pods Completed with exit
  code 0), so once kwok has made a pod Running the test writes the container status through the
  pod's status subresource, as a kubelet would.
- a Trino worker Deployment and the Prometheus StatefulSet (controllers make their kwok pods).

Checked on the real scrape:
1. every SparkApplication series docs/metrics/kube-state-metrics.yaml catalogues appears with the
   catalogued type (OpenMetrics exposition, what Prometheus 3 negotiates) and label names, and
   the value each object's status gives (a new one, without status: no state series and no
   spark_app_id label);
2. every kube_* series our rules and dashboards read appears with the catalogued label names,
   which hold the labels the rules and dashboards select, join and aggregate on (those Prometheus
   or Thanos add are not kube-state-metrics'), and the right value per object;
3. a real Prometheus 3 scraping it (honor_labels, as the chart's ServiceMonitor) with the prod
   rule groups: the rules that read only kube-state-metrics evaluate on it
   (dataops:resource:node_allocatable_ratio, OOMKillFrequent).

Not checkable here (no kubelet, no cAdvisor: kwok runs no container): the cAdvisor halves of
dataops:workload:cpu_limit_usage_ratio and :memory_limit_usage_ratio
(container_cpu_usage_seconds_total, container_memory_working_set_bytes); their
kube-state-metrics halves are checked. Nor is the chart's RBAC: kube-state-metrics runs with the
run's admin certificate.

Without the binaries (no Go): skipped locally, a failure under CI=true when Go is installed
(tests/live.py built_program).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from dashboards import DASHBOARDS, lib
from components.dashboards import DEFAULT_INPUTS
from e2e.cluster import CONTROL_PLANE, NODE_NAMES, LocalCluster
from e2e.kube import Kube, wait_for
from rules_util import iter_rules, load_catalog, promql_metric_names
from tests.conftest import with_secrets
from tests.live import control_plane_and, free_port, parse_exposition, prom_query, running, tool, wait_until
from tools import kube_state_metrics as ksm
from tools.mock_engine import run_program, stack_config

pytestmark = [pytest.mark.live, pytest.mark.heavy]

RELEASE = "kubernetes:helm.sh/v3:Release"
RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


OPENMETRICS = "application/openmetrics-text; version=1.0.0"
TEXT_PLAIN = "text/plain; version=0.0.4"

SPARK_NS = "spark-jobs"  # the Spark namespace of the prod sample stack (sparkNamespaces default)
AIRFLOW_NS = "airflow"
TRINO_NS = "trino"
MONITORING_NS = "monitoring"
GROUP, VERSION, KIND, PLURAL = "sparkoperator.k8s.io", "v1beta2", "SparkApplication", "sparkapplications"
SPARKAPP_PREFIX = "kube_customresource_sparkapplication"

# STAND-IN for the spark-operator's CRD: real group/version/kind/names and status subresource,
# open schema.
SPARKAPP_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    # *.k8s.io is a protected group: the real CRD carries the operator's approval annotation
    # (api/v1beta2/sparkapplication_types.go, +kubebuilder:metadata:annotations).
    "metadata": {"name": f"{PLURAL}.{GROUP}", "annotations": {"api-approved.kubernetes.io": "https://github.com/kubeflow/spark-operator/pull/1298"}},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": "sparkapplication", "shortNames": ["sparkapp"]},
        "versions": [{
            "name": VERSION,
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# name -> (spec.type, status as the spark-operator v2 writes it, or None: just created)
SPARK_APPS: dict[str, tuple[str, dict | None]] = {
    "daily-etl": ("Scala", {
        "sparkApplicationId": "spark-5b8e1f0c2d3a4b6c9e7f0a1b2c3d4e5f",
        "submissionID": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
        "lastSubmissionAttemptTime": "2026-12-07T10:00:05Z",
        "terminationTime": "2026-12-07T10:12:30Z",
        "driverInfo": {"podName": "daily-etl-driver", "webUIServiceName": "daily-etl-ui-svc", "webUIPort": 4040},
        "applicationState": {"state": "COMPLETED"},
        "executorState": {f"daily-etl-exec-{i}": "COMPLETED" for i in (1, 2)},
        "executionAttempts": 1,
        "submissionAttempts": 1,
    }),
    "hourly-agg": ("Python", {
        "sparkApplicationId": "spark-9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
        "submissionID": "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
        "lastSubmissionAttemptTime": "2026-12-07T11:00:02Z",
        "terminationTime": "2026-12-07T11:04:41Z",
        "driverInfo": {"podName": "hourly-agg-driver", "webUIServiceName": "hourly-agg-ui-svc", "webUIPort": 4040},
        "applicationState": {"state": "FAILED", "errorMessage": "driver container failed with ExitCode: 1, Reason: Error"},
        "executorState": {"hourly-agg-exec-1": "FAILED"},
        "executionAttempts": 3,  # restartPolicy OnFailure, onFailureRetries 2
        "submissionAttempts": 1,
    }),
    "stream-join": ("Java", {
        "sparkApplicationId": "spark-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
        "submissionID": "2b3c4d5e-6f70-8192-a3b4-c5d6e7f8091a",
        "lastSubmissionAttemptTime": "2026-12-07T12:30:00Z",
        "terminationTime": None,  # metav1.Time zero value: JSON null (+nullable)
        "driverInfo": {"podName": "stream-join-driver", "webUIServiceName": "stream-join-ui-svc", "webUIPort": 4040},
        "applicationState": {"state": "RUNNING"},
        "executorState": {"stream-join-exec-1": "RUNNING"},
        "executionAttempts": 1,
        "submissionAttempts": 1,
    }),
    "backfill": ("Scala", None),
}
STATES = ("SUBMITTED", "RUNNING", "COMPLETED", "FAILED", "SUBMISSION_FAILED", "PENDING_RERUN", "INVALIDATING",
          "SUCCEEDING", "FAILING", "UNKNOWN", "SUSPENDING", "SUSPENDED", "RESUMING")

EXECUTORS = tuple(f"daily-etl-exec-{i}" for i in range(1, 5))  # OOMKilled, restartPolicy Never
RESTARTED = "airflow-worker-0"  # restarted twice after OOMKilled, running again
WORKER_DEPLOYMENT, WORKER_REPLICAS = "trino-worker", 2
PROM_STATEFULSET, PROM_REPLICAS = "prometheus-kube-prometheus-stack-prometheus", 2
LIMITS = {"cpu": "2", "memory": "4Gi"}
LIMIT_VALUES = {"cpu": ("core", 2.0), "memory": ("byte", 4 * 2**30)}
NODE_CPU = 256.0  # e2e/cluster.py _create_node

# Labels a series gets from Prometheus or Thanos, not from kube-state-metrics (external labels
# are added to this set from the rendered values).
TARGET_LABELS = {"job", "instance"}


# ------------------------------------------------------------------ what we deploy (mock engine)


def _prod_render() -> tuple[dict, list[dict]]:
    """The kube-prometheus-stack Release values and the PrometheusRule groups prod deploys."""
    config, secret_keys = stack_config("prod", placeholder_secrets=False, overrides=with_secrets())
    run = run_program("prod", config, secret_keys, preview=True)
    values = run.one(RELEASE, "kube-prometheus-stack").inputs["values"]
    groups = [group for rule in run.by_type(RULE_CR) for group in rule.inputs["spec"]["groups"]]
    return values, groups


# ------------------------------------------------------------------ what rules and dashboards read


def _queries() -> list[str]:
    """Every PromQL our rules and dashboards run (Grafana variables made concrete)."""
    exprs = [rule["expr"] for _, _, rule in iter_rules()]
    for module in DASHBOARDS:
        model = module.build(DEFAULT_INPUTS)
        for _, expr in lib.panel_exprs(model) + lib.variable_queries(model) + lib.annotation_exprs(model):
            match = re.match(r"^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", expr, re.S)
            expr = match.group(1) if match else expr
            for var, value in {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}.items():
                expr = expr.replace(var, value)
            exprs.append(re.sub(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?", ".*", expr))
    return exprs


_SELECTOR = re.compile(r"\b(kube_[a-zA-Z0-9_]+)\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_CLAUSE = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
_GROUP_MODIFIER = re.compile(r"\s*\b(?:group_left|group_right)\s*\([^)]*\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'|`[^`]*`")


def _close(expr: str, i: int) -> int:
    """Index just past the ``)`` matching the ``(`` at ``expr[i]``."""
    depth = 0
    for j in range(i, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[j], 0)
        if depth == 0:
            return j + 1
    raise ValueError(f"unbalanced parentheses in {expr!r}")


def _open(expr: str, j: int) -> int:
    """Index of the ``(`` matching the ``)`` at ``expr[j]``."""
    depth = 0
    for i in range(j, -1, -1):
        depth += {")": 1, "(": -1}.get(expr[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in {expr!r}")


def _right_operand(expr: str, i: int) -> str:
    """The operand that starts at ``expr[i]``: a parenthesised expression, a function call or a
    selector (with its matchers and range)."""
    i += len(expr[i:]) - len(expr[i:].lstrip())
    if expr[i:i + 1] == "(":
        return expr[i:_close(expr, i)]
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr[i:])
    j = i + (name.end() if name else 0)
    while j < len(expr) and expr[j] in "({[":
        j = _close(expr.replace("{", "(").replace("}", ")").replace("[", "(").replace("]", ")"), j)
    return expr[i:j]


def _left_operand(expr: str, j: int) -> str:
    """The operand that ends before the binary operator ending at ``expr[j]`` (scanning back)."""
    text = expr[:j].rstrip()
    text = re.sub(r"\s*(?:\band|\bor|\bunless|\batan2|==|!=|>=|<=|>|<|[-+*/%^])\s*(?:\bbool)?\s*$", "", text)
    if text.endswith(")"):
        start = _open(text, len(text) - 1)
        return text[start:]
    selector = re.search(r"[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:\{[^}]*\})?\s*(?:\[[^\]]*\])?$", text)
    return selector.group(0) if selector else ""


def kube_series_read() -> dict[str, set[str]]:
    """kube_* name -> the label names rules and dashboards use on it: its selectors' matchers, the
    ``by``/``without`` labels of aggregations over it, and the ``on``/``ignoring`` labels of the
    binary operations it is an operand of."""
    used: dict[str, set[str]] = {}

    def attribute(text: str, labels: set[str]) -> None:
        for name in promql_metric_names(text):
            if name.startswith("kube_"):
                used.setdefault(name, set()).update(labels)

    for expr in _queries():
        expr = _STRING.sub(lambda m: '"' + "x" * (len(m.group(0)) - 2) + '"', expr)  # no brackets in strings
        for name in promql_metric_names(expr):
            if name.startswith("kube_"):
                used.setdefault(name, set())
        for name, matchers in _SELECTOR.findall(expr):
            used[name].update(_MATCHER_LABEL.findall(matchers))
        for clause in _CLAUSE.finditer(expr):
            labels = {label.strip() for label in clause.group(2).split(",") if label.strip()}
            modifier = _GROUP_MODIFIER.match(expr, clause.end())
            after = modifier.end() if modifier else clause.end()
            if clause.group(1) in ("by", "without"):
                attribute(_right_operand(expr, clause.end()), labels)
            else:
                attribute(_left_operand(expr, clause.start()), labels)
                attribute(_right_operand(expr, after), labels)
    return used


# ------------------------------------------------------------------ exposition parsing


def _fetch(url: str, accept: str) -> tuple[str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return response.headers.get("Content-Type", ""), response.read().decode()


def series(samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(ls, v) for n, ls, v in samples if n == name and all(ls.get(k) == want for k, want in labels.items())]


def one_value(samples, name: str, **labels: str) -> float:
    found = series(samples, name, **labels)
    assert len(found) == 1, f"expected one {name}{labels}, found {found}"
    return found[0][1]


# ------------------------------------------------------------------ the cluster's objects


def _merge_patch(kube: Kube, path: str, body: dict) -> dict:
    return kube.request("PATCH", path, body, content_type="application/merge-patch+json")


def _namespace(kube: Kube, name: str) -> None:
    kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: kube.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 60, f"the default ServiceAccount of {name}")


def _container(name: str) -> dict:
    return {"name": name, "image": "registry.invalid/dataops/fake:1", "resources": {"limits": dict(LIMITS), "requests": dict(LIMITS)}}


def _pod_template(labels: dict) -> dict:
    return {"metadata": {"labels": labels}, "spec": {"containers": [_container("main")], "automountServiceAccountToken": False}}


def _sparkapps(kube: Kube) -> None:
    kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", SPARKAPP_CRD)

    def established():
        crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}")
        return any(c["type"] == "Established" and c["status"] == "True" for c in (crd.get("status") or {}).get("conditions") or [])

    wait_for(established, 60, "the SparkApplication CRD (STAND-IN) established")
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{SPARK_NS}/{PLURAL}"
    for name, (app_type, status) in SPARK_APPS.items():
        spec = {
            "type": app_type,
            "mode": "cluster",
            "sparkVersion": "3.5.3",
            "image": "registry.invalid/dataops/spark:3.5.3",
            "mainApplicationFile": "local:///opt/spark/jobs/job.jar" if app_type != "Python" else "local:///opt/spark/jobs/job.py",
            "restartPolicy": {"type": "OnFailure", "onFailureRetries": 2} if name == "hourly-agg" else {"type": "Never"},
            "driver": {"cores": 1, "memory": "2g", "serviceAccount": "spark"},
            "executor": {"cores": 2, "instances": 2, "memory": "4g"},
        }
        if app_type in ("Scala", "Java"):
            spec["mainClass"] = "com.example.Job"
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "spec": spec}
        # The new resource is served a moment after the CRD is established.
        wait_for(lambda body=body: kube.create(base, body) or True, 30, f"SparkApplication {name} created")
        if status is not None:
            # As the operator writes it: an update of the status subresource with the whole object
            # (a merge patch would drop terminationTime: null instead of storing it).
            app = kube.get(f"{base}/{name}")
            app["status"] = status
            kube.request("PUT", f"{base}/{name}/status", app)
    # What was stored is what kube-state-metrics reads: the status subresource took it.
    stored = {item["metadata"]["name"]: item.get("status") for item in kube.items(base)}
    assert stored == {name: status for name, (_, status) in SPARK_APPS.items()}, stored


def _kwok_running(kube: Kube, namespace: str, name: str) -> dict:
    def running_pod():
        pod = kube.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        return pod if pod.get("status", {}).get("podIP") and pod["status"].get("phase") == "Running" else None

    return wait_for(running_pod, 60, f"kwok to run pod {namespace}/{name}")


def _pods(kube: Kube) -> None:
    """Executors OOMKilled (Never restarted) and an Airflow worker restarted after OOM kills."""
    app_id = SPARK_APPS["daily-etl"][1]["sparkApplicationId"]
    for name in EXECUTORS:
        kube.create(f"/api/v1/namespaces/{SPARK_NS}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"spark-role": "executor", "spark-app-selector": app_id, "sparkoperator.k8s.io/app-name": "daily-etl"}},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, "containers": [_container("spark-kubernetes-executor")]},
        })
    kube.create(f"/api/v1/namespaces/{AIRFLOW_NS}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": RESTARTED, "labels": {"component": "worker"}},
        "spec": {"restartPolicy": "Always", "automountServiceAccountToken": False, "containers": [_container("worker")]},
    })
    # kwok made them Running; now what a kubelet reports after the OOM kills.
    for name in EXECUTORS:
        pod = _kwok_running(kube, SPARK_NS, name)
        started = pod["status"]["startTime"]
        (status,) = pod["status"]["containerStatuses"]
        _merge_patch(kube, f"/api/v1/namespaces/{SPARK_NS}/pods/{name}/status", {"status": {
            "phase": "Failed",
            "conditions": [{"type": t, "status": "False", "lastTransitionTime": started} for t in ("Ready", "ContainersReady")]
            + [{"type": "Initialized", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{
                "name": status["name"], "image": status["image"], "imageID": "", "ready": False, "started": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": started}},
            }],
        }})
    pod = _kwok_running(kube, AIRFLOW_NS, RESTARTED)
    started = pod["status"]["startTime"]
    (status,) = pod["status"]["containerStatuses"]
    _merge_patch(kube, f"/api/v1/namespaces/{AIRFLOW_NS}/pods/{RESTARTED}/status", {"status": {
        "containerStatuses": [{
            "name": status["name"], "image": status["image"], "imageID": "", "ready": True, "started": True, "restartCount": 2,
            "state": {"running": {"startedAt": started}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": started}},
        }],
    }})


def _workloads(kube: Kube) -> None:
    kube.create(f"/apis/apps/v1/namespaces/{TRINO_NS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": WORKER_DEPLOYMENT},
        "spec": {"replicas": WORKER_REPLICAS, "selector": {"matchLabels": {"app": WORKER_DEPLOYMENT}}, "template": _pod_template({"app": WORKER_DEPLOYMENT})},
    })
    kube.create(f"/apis/apps/v1/namespaces/{MONITORING_NS}/statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": PROM_STATEFULSET},
        "spec": {"replicas": PROM_REPLICAS, "serviceName": "prometheus-operated", "selector": {"matchLabels": {"app": "prometheus"}},
                 "template": _pod_template({"app": "prometheus"})},
    })


# ------------------------------------------------------------------ the run


class Scrape:
    def __init__(self, values: dict, groups: list[dict], plain: str, openmetrics: str, plain_type: str, prometheus: dict):
        self.values, self.groups = values, groups
        self.plain_types, self.samples = parse_exposition(plain)
        self.om_types, self.om_samples = parse_exposition(openmetrics)
        self.plain_content_type = plain_type
        self.prometheus = prometheus


def _expected_objects_seen(url: str) -> bool:
    _, text = _fetch(url, TEXT_PLAIN)
    _, samples = parse_exposition(text)
    apps = {ls.get("sparkapplication") for ls, _ in series(samples, f"{SPARKAPP_PREFIX}_status_execution_attempts")}
    oom = {ls["pod"] for ls, v in series(samples, "kube_pod_container_status_terminated_reason", reason="OOMKilled") if v == 1}
    restarted = series(samples, "kube_pod_container_status_last_terminated_reason", pod=RESTARTED, reason="OOMKilled")
    replicas = series(samples, "kube_statefulset_replicas", statefulset=PROM_STATEFULSET)
    return apps == set(SPARK_APPS) and oom == set(EXECUTORS) and bool(restarted) and bool(replicas)


def _run_prometheus(tmp: Path, groups: list[dict], ksm_target: str) -> dict:
    """Prometheus 3 scraping kube-state-metrics with the prod rule groups (evaluated every second)."""
    prometheus_bin = tool("prometheus")
    for group in groups:
        group["interval"] = "1s"
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        # The chart's ServiceMonitor: honorLabels, so namespace/pod/container are the objects'.
        "scrape_configs": [{"job_name": "kube-state-metrics", "honor_labels": True, "static_configs": [{"targets": [ksm_target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}"]
    (oom_expr,) = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "OOMKillFrequent"]
    results: dict = {}
    with running(args, tmp / "prometheus.log", f"{base}/-/ready", timeout=30):
        def evaluated():
            results["allocatable"] = prom_query(base, "dataops:resource:node_allocatable_ratio")
            results["oom"] = prom_query(base, oom_expr)
            results["alerts"] = prom_query(base, 'ALERTS{alertname="OOMKillFrequent"}')
            return results["allocatable"] and results["oom"] and results["alerts"]

        try:
            wait_until(evaluated, 60, "Prometheus 3 to evaluate the kube-state-metrics rules")
        except AssertionError:
            pass  # the assertions below say what is missing
        metadata = json.loads(urllib.request.urlopen(f"{base}/api/v1/metadata", timeout=10).read())["data"]  # noqa: S310
        results["metadata"] = {name: {m["type"] for m in entries} for name, entries in metadata.items()}
    return results


@pytest.fixture(scope="module")
def scrape(tmp_path_factory) -> Iterator[Scrape]:
    binaries = control_plane_and("kube-state-metrics")
    values, groups = _prod_render()
    tmp = tmp_path_factory.mktemp("real_ksm")
    cluster = LocalCluster(tmp / "cluster", {name: Path(binaries[name]) for name in CONTROL_PLANE})
    try:
        cluster.start()
        kube = cluster.kube
        for namespace in (SPARK_NS, AIRFLOW_NS, TRINO_NS, MONITORING_NS):
            _namespace(kube, namespace)
        _sparkapps(kube)
        _pods(kube)
        _workloads(kube)

        # Our chart values, rendered into the file the chart's ConfigMap holds (toYaml of the value).
        crs = values["kube-state-metrics"]["customResourceState"]
        assert crs["enabled"] is True
        config_file = tmp / "customresourcestate-config.yaml"
        config_file.write_text(yaml.safe_dump(crs["config"]))
        port, telemetry_port = free_port(), free_port()
        args = ksm.args(binaries["kube-state-metrics"], port, telemetry_port, cluster.kubeconfig, config_file)
        url = f"http://127.0.0.1:{port}/metrics"
        with running(args, tmp / "kube-state-metrics.log", f"http://127.0.0.1:{port}/healthz", timeout=60):
            wait_until(lambda: _expected_objects_seen(url), 90, "kube-state-metrics to expose every object of the cluster")
            plain_type, plain = _fetch(url, TEXT_PLAIN)
            _, openmetrics = _fetch(url, OPENMETRICS)
            prometheus = _run_prometheus(tmp, groups, f"127.0.0.1:{port}")
        yield Scrape(values, groups, plain, openmetrics, plain_type, prometheus)
    finally:
        cluster.stop()


# ------------------------------------------------------------------ the checks


def _sparkapp_catalog() -> dict[str, dict]:
    return {name: entry for name, entry in load_catalog().items() if name.startswith(SPARKAPP_PREFIX)}


def test_the_catalogued_sparkapplication_series_with_their_types_and_labels(scrape):
    catalog = _sparkapp_catalog()
    assert len(catalog) == 4, sorted(catalog)
    problems = []
    for name, entry in sorted(catalog.items()):
        found = series(scrape.om_samples, name)
        if not found:
            problems.append(f"{name}: not exposed")
            continue
        if scrape.om_types.get(name) != entry["type"]:
            problems.append(f"{name}: type {scrape.om_types.get(name)!r} (OpenMetrics), catalogued {entry['type']!r}")
        for labels, _ in found:
            # A SparkApplication the operator has not picked up yet has no status: no spark_app_id
            # (the catalog entry's help says so).
            new = SPARK_APPS[labels.get("sparkapplication", "")][1] is None
            expected = set(entry["labels"]) - ({"spark_app_id"} if new else set())
            if set(labels) != expected:
                problems.append(f"{name}{{sparkapplication={labels.get('sparkapplication')!r}}}: labels {sorted(labels)}, catalogued {sorted(entry['labels'])}")
    assert not problems, "\n".join(problems)


def test_sparkapplication_values_per_object(scrape):
    s = scrape.samples
    common = {"namespace": SPARK_NS, "customresource_group": GROUP, "customresource_version": VERSION, "customresource_kind": KIND}
    for name, (app_type, status) in SPARK_APPS.items():
        at = dict(common, sparkapplication=name)
        info = series(s, f"{SPARKAPP_PREFIX}_info", **at)
        assert [(ls.get("spark_app_id", ""), ls["app_type"], v) for ls, v in info] == [((status or {}).get("sparkApplicationId", ""), app_type, 1.0)], name
        states = {ls["state"]: v for ls, v in series(s, f"{SPARKAPP_PREFIX}_status_state", **at)}
        current = (status or {}).get("applicationState", {}).get("state")
        # No state series until the operator has written a status (catalogued).
        assert states == ({state: float(state == current) for state in STATES} if status else {}), name
        assert one_value(s, f"{SPARKAPP_PREFIX}_status_execution_attempts", **at) == (status or {}).get("executionAttempts", 0), name
        termination = series(s, f"{SPARKAPP_PREFIX}_status_termination_time_seconds", **at)
        if status and status["terminationTime"]:
            assert [v for _, v in termination] == [_ts(status["terminationTime"])], name
        else:
            assert termination == [], f"{name}: a termination time while it runs or is new: {termination}"


def test_plain_text_exposition_says_gauge_for_info_and_stateset(scrape):
    """What `curl` or a text-only scraper sees: kube-state-metrics rewrites the OpenMetrics-only
    types to gauge in the 0.0.4 text format (pkg/metrics_store/metrics_writer.go)."""
    assert scrape.plain_content_type.startswith("text/plain"), scrape.plain_content_type
    assert {name: scrape.plain_types.get(name) for name in _sparkapp_catalog()} == {name: "gauge" for name in _sparkapp_catalog()}


def test_every_kube_series_rules_and_dashboards_read_is_exposed_with_the_catalogued_labels(scrape):
    read = kube_series_read()
    # Sanity of the derivation: the rules' OOM and capacity inputs are among them.
    assert {"kube_pod_container_status_terminated_reason", "kube_node_status_allocatable", "kube_statefulset_replicas"} <= set(read), sorted(read)
    catalog = load_catalog()
    external = set(scrape.values["prometheus"]["prometheusSpec"]["externalLabels"]) | {scrape.values["prometheus"]["prometheusSpec"].get("replicaExternalLabelName", "prometheus_replica")}
    added_by_prometheus = TARGET_LABELS | external
    problems = []
    for name, used in sorted(read.items()):
        found = series(scrape.om_samples, name)
        if not found:
            problems.append(f"{name}: not exposed by kube-state-metrics here")
            continue
        catalogued = set(catalog[name]["labels"])
        for labels, _ in found:
            if set(labels) != catalogued:
                problems.append(f"{name}: labels {sorted(labels)}, catalogued {sorted(catalogued)}")
                break
        missing = used - added_by_prometheus - set(found[0][0])
        if missing:
            problems.append(f"{name}: rules/dashboards use {sorted(missing)}, not among its labels {sorted(found[0][0])}")
    assert not problems, "\n".join(problems)


def test_kube_series_values_per_object(scrape):
    s = scrape.samples
    for pod in EXECUTORS:
        at = {"namespace": SPARK_NS, "pod": pod, "container": "spark-kubernetes-executor"}
        assert one_value(s, "kube_pod_container_status_terminated_reason", reason="OOMKilled", **at) == 1
        assert one_value(s, "kube_pod_status_phase", namespace=SPARK_NS, pod=pod, phase="Failed") == 1
        assert one_value(s, "kube_pod_status_phase", namespace=SPARK_NS, pod=pod, phase="Running") == 0
        for resource, (unit, value) in LIMIT_VALUES.items():
            assert one_value(s, "kube_pod_container_resource_limits", resource=resource, unit=unit, **at) == value
    at = {"namespace": AIRFLOW_NS, "pod": RESTARTED, "container": "worker"}
    assert one_value(s, "kube_pod_container_status_restarts_total", **at) == 2
    assert one_value(s, "kube_pod_container_status_last_terminated_reason", reason="OOMKilled", **at) == 1
    assert series(s, "kube_pod_container_status_terminated_reason", **at) == []  # running again
    assert one_value(s, "kube_pod_status_phase", namespace=AIRFLOW_NS, pod=RESTARTED, phase="Running") == 1
    assert one_value(s, "kube_deployment_spec_replicas", namespace=TRINO_NS, deployment=WORKER_DEPLOYMENT) == WORKER_REPLICAS
    assert one_value(s, "kube_statefulset_replicas", namespace=MONITORING_NS, statefulset=PROM_STATEFULSET) == PROM_REPLICAS
    for node in NODE_NAMES:
        for metric in ("kube_node_status_allocatable", "kube_node_status_capacity"):
            assert one_value(s, metric, node=node, resource="cpu", unit="core") == NODE_CPU


def test_prometheus_3_evaluates_the_rules_that_read_kube_state_metrics(scrape):
    p = scrape.prometheus
    # Prometheus 3 negotiates OpenMetrics with kube-state-metrics and keeps its info/stateset types.
    catalog = _sparkapp_catalog()
    assert {name: p["metadata"].get(name) for name in catalog} == {name: {entry["type"]} for name, entry in catalog.items()}
    # kwok's Nodes: allocatable == capacity.
    assert sorted((r["metric"]["resource"], float(r["value"][1])) for r in p["allocatable"]) == [("cpu", 1.0), ("memory", 1.0)]
    # Four executors OOMKilled in spark-jobs (> 3): the alert's expression is true, the alert pending (for: 1m).
    assert [(r["metric"]["namespace"], float(r["value"][1])) for r in p["oom"]] == [(SPARK_NS, float(len(EXECUTORS)))]
    assert [(r["metric"]["namespace"], r["metric"]["alertstate"]) for r in p["alerts"]] == [(SPARK_NS, "pending")]
