"""GitOpsMonitoring (Argo CD, Jenkins) under the mock engine."""

from __future__ import annotations

import re


from core.rules import RULES_DIR
from components.gitops import ARGOCD_KEEP, DASHBOARD, JENKINS_KEEP
from rules_util import as_deployed
from tests.conftest import PROJECT, with_secrets

CR = "kubernetes:monitoring.coreos.com/v1:{}"
SM = CR.format("ServiceMonitor")
RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENT = "dataops:monitoring:GitOpsMonitoring"
ARGOCD_MONITORS = ("argocd-application-controller", "argocd-server", "argocd-repo-server")
STAGING_SECRETS = ("thanosAccessKey", "thanosSecretKey")


def _matches(selector: dict, service_labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels AND matchExpressions In)."""
    for key, value in selector.get("matchLabels", {}).items():
        if service_labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if service_labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


# Metrics Services exactly as the upstream manifests and the argo-helm chart label them
# (see components/gitops.py), and the official Jenkins chart's controller Service.
ARGOCD_SERVICES = {
    # name: (labels, port names)
    "manifests/argocd-metrics": ({"app.kubernetes.io/name": "argocd-metrics", "app.kubernetes.io/component": "metrics", "app.kubernetes.io/part-of": "argocd"}, {"metrics"}),
    "manifests/argocd-server-metrics": ({"app.kubernetes.io/name": "argocd-server-metrics", "app.kubernetes.io/component": "metrics", "app.kubernetes.io/part-of": "argocd"}, {"metrics"}),
    "manifests/argocd-repo-server": ({"app.kubernetes.io/name": "argocd-repo-server", "app.kubernetes.io/component": "repo-server", "app.kubernetes.io/part-of": "argocd"}, {"server", "metrics"}),
    "manifests/argocd-server": ({"app.kubernetes.io/name": "argocd-server", "app.kubernetes.io/component": "server", "app.kubernetes.io/part-of": "argocd"}, {"http", "https"}),
    "helm/argocd-application-controller-metrics": ({"app.kubernetes.io/name": "argocd-metrics", "app.kubernetes.io/component": "application-controller", "app.kubernetes.io/instance": "argocd"}, {"http-metrics"}),
    "helm/argocd-server-metrics": ({"app.kubernetes.io/name": "argocd-server-metrics", "app.kubernetes.io/component": "server", "app.kubernetes.io/instance": "argocd"}, {"http-metrics"}),
    "helm/argocd-repo-server-metrics": ({"app.kubernetes.io/name": "argocd-repo-server-metrics", "app.kubernetes.io/component": "repo-server", "app.kubernetes.io/instance": "argocd"}, {"http-metrics"}),
    "helm/argocd-repo-server": ({"app.kubernetes.io/name": "argocd-repo-server", "app.kubernetes.io/component": "repo-server", "app.kubernetes.io/instance": "argocd"}, {"https-repo-server"}),
}
EXPECTED_TARGETS = {
    "argocd-application-controller": {"manifests/argocd-metrics", "helm/argocd-application-controller-metrics"},
    "argocd-server": {"manifests/argocd-server-metrics", "helm/argocd-server-metrics"},
    "argocd-repo-server": {"manifests/argocd-repo-server", "helm/argocd-repo-server-metrics"},
}


def test_argocd_monitors_select_exactly_the_metrics_services(prod_run):
    for name in ARGOCD_MONITORS:
        spec = prod_run.one(SM, name).inputs["spec"]
        assert spec["namespaceSelector"] == {"matchNames": ["argocd"]}
        ports = {e["port"] for e in spec["endpoints"]}
        assert ports == {"metrics", "http-metrics"}
        scraped = {
            svc
            for svc, (svc_labels, svc_ports) in ARGOCD_SERVICES.items()
            if _matches(spec["selector"], svc_labels) and svc_ports & ports
        }
        assert scraped == EXPECTED_TARGETS[name], name
        for endpoint in spec["endpoints"]:
            assert endpoint["path"] == "/metrics"
            assert endpoint["metricRelabelings"] == [{"sourceLabels": ["__name__"], "regex": ARGOCD_KEEP, "action": "keep"}]


def test_jenkins_monitor_scrapes_the_prometheus_plugin_on_the_http_port(prod_run):
    spec = prod_run.one(SM, "jenkins").inputs["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["jenkins"]}
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/component": "jenkins-controller"}}
    [endpoint] = spec["endpoints"]
    assert endpoint["port"] == "http" and endpoint["path"] == "/prometheus"
    assert endpoint["metricRelabelings"][0]["action"] == "keep"


def test_keep_lists_keep_what_the_rules_read_and_drop_the_rest():
    rules = (RULES_DIR / "gitops.rules.yaml").read_text()
    argocd = re.compile(ARGOCD_KEEP)
    jenkins = re.compile(JENKINS_KEEP)
    for name in ("argocd_app_info", "argocd_app_sync_total"):
        assert name in rules and argocd.fullmatch(name), name
    for name in (
        "default_jenkins_builds_last_build_result_ordinal",
        "default_jenkins_builds_duration_milliseconds_summary_sum",
        "default_jenkins_builds_duration_milliseconds_summary_count",
    ):
        assert name in rules and jenkins.fullmatch(name), name
    for dropped in ("argocd_app_k8s_request_total", "argocd_app_labels", "grpc_server_handled_total", "go_goroutines"):
        assert not argocd.fullmatch(dropped), dropped
    for dropped in ("jenkins_queue_size_value", "vm_memory_heap_used", "default_jenkins_builds_stage_duration_milliseconds_summary_sum"):
        assert not jenkins.fullmatch(dropped), dropped


def test_every_gitops_cr_depends_on_the_release_and_is_a_child_of_the_component(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    component = prod_run.one(COMPONENT, "gitops")
    children = [r for r in prod_run.registrations if r.parent == component.urn]
    assert {(r.type, r.name) for r in children} == {
        *((SM, n) for n in (*ARGOCD_MONITORS, "jenkins")),
        (CR.format("PrometheusRule"), "dataops-gitops"),
    }
    for reg in children:
        assert release.urn in reg.dependencies, reg.name
        assert reg.inputs["metadata"]["namespace"] == "monitoring", reg.name
        assert reg.inputs["metadata"]["labels"]["app.kubernetes.io/name"] == "gitops-monitoring"


def test_gitops_rules_are_loaded_from_the_rule_file(prod_run):
    rule = prod_run.one(CR.format("PrometheusRule"), "dataops-gitops")
    assert rule.inputs["metadata"]["labels"]["dataops.io/rules"] == "true"
    assert rule.inputs["spec"]["groups"] == as_deployed("gitops", DASHBOARD)


def test_namespaces_follow_settings(run_stack):
    run = run_stack(
        "staging",
        {**with_secrets(STAGING_SECRETS), f"{PROJECT}:argocdNamespace": "gitops", f"{PROJECT}:jenkinsNamespace": "ci"},
    )
    for name in ARGOCD_MONITORS:
        assert run.one(SM, name).inputs["spec"]["namespaceSelector"] == {"matchNames": ["gitops"]}
    assert run.one(SM, "jenkins").inputs["spec"]["namespaceSelector"] == {"matchNames": ["ci"]}


def test_disabled_gitops_creates_nothing(run_stack):
    run = run_stack("staging", {**with_secrets(STAGING_SECRETS), f"{PROJECT}:gitopsEnabled": False})
    assert run.by_type(COMPONENT) == []
    names = {r.name for r in run.registrations}
    assert not names & {*ARGOCD_MONITORS, "jenkins", "dataops-gitops"}


def test_bad_namespace_is_a_settings_error():
    from tests.settings_util import load
    from settings import SettingsError

    try:
        load({"environment": "staging", "clusterName": "dataops-staging", "thanosEnabled": False, "argocdNamespace": "Argo_CD"})
    except SettingsError as err:
        assert any("argocdNamespace" in p and "DNS-1123" in p for p in err.problems), err.problems
    else:
        raise AssertionError("an invalid argocdNamespace was accepted")


def test_the_scrape_keeps_every_argocd_and_jenkins_series_a_rule_reads():
    """A keep list that drops a series a rule reads makes that rule (and its alert) silently empty."""
    import re

    from rules_util import iter_rules, promql_metric_names

    # By name, not by catalog file: other domains' catalogs list Argo CD series too (bitbucket.yaml).
    keep = {"argocd_": ARGOCD_KEEP, "default_jenkins_": JENKINS_KEEP}
    problems = []
    for path, _, rule in iter_rules():
        for name in promql_metric_names(rule["expr"]):
            pattern = next((v for prefix, v in keep.items() if name.startswith(prefix)), None)
            if pattern is not None and not re.fullmatch(pattern, name):
                problems.append(f"{path.name} {rule.get('alert') or rule.get('record')}: {name}")
    assert not problems, "dropped at scrape by components/gitops' keep lists:\n" + "\n".join(problems)
