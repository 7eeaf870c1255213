"""Spark, Airflow, Trino and platform monitoring under the mock engine."""

from __future__ import annotations

import yaml

import importlib

import components.spark
from rules_util import as_deployed
from core.k8s import load_asset
from core.rules import RULES_DIR
from tests.conftest import PROJECT, random_secret, with_secrets
from tests.live import tool
from tools.mock_engine import Secret, leaked_secrets

CR = "kubernetes:monitoring.coreos.com/v1:{}"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _walk(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


def test_spark_application_pods_are_scraped_in_the_configured_namespaces(prod_run):
    pm = prod_run.one(CR.format("PodMonitor"), "spark-applications").inputs["spec"]
    assert pm["namespaceSelector"]["matchNames"] == ["spark-jobs", "data-processing"]
    assert pm["selector"]["matchExpressions"] == [{"key": "spark-role", "operator": "In", "values": ["driver", "executor"]}]
    endpoint = pm["podMetricsEndpoints"][0]
    assert endpoint["port"] == "jmx-metrics" and endpoint["path"] == "/metrics"
    targets = {r["targetLabel"] for r in endpoint["relabelings"]}
    assert {"spark_app_id", "executor_id", "job_name"} <= targets
    keep = endpoint["metricRelabelings"][0]
    assert keep["action"] == "keep" and "jvm_gc_collection_seconds" in keep["regex"]


def test_spark_namespaces_follow_settings(run_stack):
    run = run_stack("staging", {**with_secrets(("thanosAccessKey", "thanosSecretKey")), f"{PROJECT}:sparkNamespaces": ["batch"]})
    pm = run.one(CR.format("PodMonitor"), "spark-applications").inputs["spec"]
    assert pm["namespaceSelector"]["matchNames"] == ["batch"]
    config_maps = [r for r in run.by_type("kubernetes:core/v1:ConfigMap") if r.name.startswith("spark-jmx-config")]
    assert [c.inputs["metadata"]["namespace"] for c in config_maps] == ["batch"]


def test_spark_operator_controller_is_scraped(prod_run):
    pm = prod_run.one(CR.format("PodMonitor"), "spark-operator").inputs["spec"]
    assert pm["namespaceSelector"]["matchNames"] == ["spark-operator"]
    assert pm["selector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    assert pm["podMetricsEndpoints"][0]["port"] == "metrics"
    assert pm["podMetricsEndpoints"][0]["honorLabels"] is True


def test_jmx_configmap_holds_the_jmx_exporter_config(prod_run):
    cm = prod_run.one("kubernetes:core/v1:ConfigMap", "spark-jmx-config-spark-jobs")
    config = yaml.safe_load(cm.inputs["data"]["config.yaml"])
    assert config == load_asset(components.spark.__file__, "spark-jmx-exporter.yaml")
    assert cm.inputs["metadata"]["name"] == "spark-jmx-config"


def test_kube_state_metrics_reads_sparkapplications_with_read_only_rbac(prod_run):
    ksm = prod_run.one(RELEASE, "kube-prometheus-stack").inputs["values"]["kube-state-metrics"]
    assert ksm["customResourceState"]["enabled"] is True
    assert ksm["customResourceState"]["config"] == load_asset(components.spark.__file__, "spark-ksm-customresourcestate.yaml")
    assert ksm["rbac"]["extraRules"] == [
        {"apiGroups": ["sparkoperator.k8s.io"], "resources": ["sparkapplications"], "verbs": ["get", "list", "watch"]}
    ]


def test_no_wildcard_anywhere_in_rbac_or_selectors(prod_run):
    for reg in prod_run.registrations:
        if reg.type.startswith("kubernetes:rbac") or reg.type == RELEASE:
            rules = reg.inputs.get("rules") or reg.inputs.get("values", {}).get("kube-state-metrics", {}).get("rbac", {}).get("extraRules", [])
            for rule in rules:
                assert "*" not in rule.get("verbs", []) and "*" not in rule.get("resources", []), reg.name


def test_statsd_exporter_deployment_service_and_monitor(prod_run):
    deployment = prod_run.one("kubernetes:apps/v1:Deployment", "airflow-statsd-exporter").inputs
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("prom/statsd-exporter:v")
    assert "--statsd.mapping-config=/etc/statsd/mapping.yaml" in container["args"]
    assert container["resources"]["limits"] and container["securityContext"]["runAsNonRoot"] is True
    assert "checksum/mapping" in deployment["spec"]["template"]["metadata"]["annotations"]
    service = prod_run.one("kubernetes:core/v1:Service", "airflow-statsd-exporter").inputs["spec"]
    assert {(p["name"], p["protocol"]) for p in service["ports"]} >= {("statsd-udp", "UDP"), ("metrics", "TCP")}
    sm = prod_run.one(CR.format("ServiceMonitor"), "airflow-statsd-exporter").inputs["spec"]
    assert sm["selector"]["matchLabels"] == service["selector"]
    assert sm["endpoints"][0]["port"] == "metrics"
    assert prod_run.stack_outputs["airflowStatsdHost"] == "airflow-statsd-exporter.monitoring.svc.cluster.local"


def test_statsd_mapping_gives_a_dagrun_histogram_with_a_one_hour_bucket(prod_run):
    cm = prod_run.one("kubernetes:core/v1:ConfigMap", "airflow-statsd-mapping")
    mapping = yaml.safe_load(cm.inputs["data"]["mapping.yaml"])
    dagrun = [m for m in mapping["mappings"] if m.get("name") == "airflow_dagrun_duration"]
    assert dagrun, "airflow_dagrun_duration mapping missing"
    for m in dagrun:
        assert m.get("observer_type") == "histogram"
        buckets = m.get("histogram_options", {}).get("buckets") or m.get("buckets")
        assert 3600 in buckets
        assert "dag_id" in m["labels"]


def test_trino_monitors_use_metrics_path_and_the_user_secret(run_stack):
    password = random_secret("trino")
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:trinoPassword": password})
    for role in ("coordinator", "worker"):
        sm = run.one(CR.format("ServiceMonitor"), f"trino-{role}")
        endpoint = sm.inputs["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics"
        assert endpoint["basicAuth"]["username"] == {"name": "trino-metrics-auth", "key": "username"}
        assert any(r["targetLabel"] == "cluster_name" for r in endpoint["relabelings"])
        assert sm.inputs["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == role
        assert run.one("kubernetes:core/v1:Secret", "trino-metrics-auth").urn in sm.dependencies
    secret = run.one("kubernetes:core/v1:Secret", "trino-metrics-auth")
    assert isinstance(secret.inputs["stringData"], Secret)
    assert secret.inputs["stringData"].value["password"] == password.value
    assert secret.inputs["stringData"].value["username"] == "prometheus"
    for reg in run.registrations:
        assert leaked_secrets(reg.inputs, run.secret_values) == [], reg.name


def test_one_prometheus_rule_per_rule_file_labelled_and_after_the_release(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    for domain in ("spark", "airflow", "trino", "storage", "iceberg"):
        rule = prod_run.one(CR.format("PrometheusRule"), f"dataops-{domain}")
        assert rule.inputs["metadata"]["labels"]["dataops.io/rules"] == "true"
        assert release.urn in rule.dependencies
        dashboard = importlib.import_module(f"components.{domain}").DASHBOARD
        assert rule.inputs["spec"]["groups"] == as_deployed(domain, dashboard)


def test_every_monitor_depends_on_the_operator_and_has_a_component_parent(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    components = {r.urn for r in prod_run.registrations if r.type.startswith("dataops:monitoring:")}
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        for reg in prod_run.by_type(CR.format(kind)):
            assert release.urn in reg.dependencies, reg.name
            assert reg.parent in components, reg.name


def test_prometheus_selects_our_rules_by_label(prod_run):
    spec = prod_run.one(RELEASE, "kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    expression = spec["ruleSelector"]["matchExpressions"][0]
    assert expression == {"key": "dataops.io/rules", "operator": "In", "values": ["true"]}


def test_minio_is_scraped_with_an_optional_bearer_token(prod_run, run_stack):
    sm = prod_run.one(CR.format("ServiceMonitor"), "minio").inputs["spec"]
    assert sm["endpoints"][0]["path"] == "/minio/v2/metrics/cluster"
    assert "authorization" not in sm["endpoints"][0]
    token = random_secret("minio")
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:minioPrometheusToken": token})
    endpoint = run.one(CR.format("ServiceMonitor"), "minio").inputs["spec"]["endpoints"][0]
    assert endpoint["authorization"]["credentials"] == {"name": "minio-prometheus-token", "key": "token"}
    assert isinstance(run.one("kubernetes:core/v1:Secret", "minio-prometheus-token").inputs["stringData"], Secret)


def test_example_spark_application_matches_what_the_monitors_expect():
    from components.spark import JMX_CONFIG_KEY, JMX_CONFIGMAP, JMX_PORT_NAME

    app = load_asset(components.spark.__file__, "spark-application-example.yaml")
    assert app["spec"]["volumes"][0]["configMap"]["name"] == JMX_CONFIGMAP
    for role in ("driver", "executor"):
        spec = app["spec"][role]
        assert any(p["name"] == JMX_PORT_NAME for p in spec["ports"]), role
        assert f"/{JMX_CONFIG_KEY}" in spec["javaOptions"] and "-javaagent:" in spec["javaOptions"], role


def test_committed_platform_rules_hold_the_all_layers_availability_expression():
    from core.rules import load_rule_file
    from components.platform import BY_LAYER_RECORD, NO_TARGETS_ALERT, availability_by_layer_expr, layer_jobs, layers_without_targets_expr

    rules = [r for g in load_rule_file(RULES_DIR / "platform.rules.yaml")["groups"] for r in g["rules"]]
    committed = next(r["expr"] for r in rules if r.get("record") == BY_LAYER_RECORD)
    assert committed == availability_by_layer_expr(list(layer_jobs()))
    no_targets = next(r["expr"] for r in rules if r.get("alert") == NO_TARGETS_ALERT)
    assert no_targets == layers_without_targets_expr(list(layer_jobs()))


def test_disabled_layers_are_not_expected_in_platform_availability(run_stack, tmp_path):
    import subprocess

    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterEnabled": False, f"{PROJECT}:sloFreshnessTables": [], f"{PROJECT}:gitopsEnabled": False})
    groups = run.one(CR.format("PrometheusRule"), "dataops-platform").inputs["spec"]["groups"]
    expr = next(r["expr"] for g in groups for r in g["rules"] if r.get("record") == "dataops:platform:availability:by_layer")
    assert '"iceberg"' not in expr and '"gitops"' not in expr
    assert '"spark"' in expr and '"storage"' in expr
    no_targets = next(r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "DataOpsLayerNoTargets")
    assert '"iceberg"' not in no_targets and '"gitops"' not in no_targets
    assert '"spark"' in no_targets and '"storage"' in no_targets
    # The narrowed rule file is still valid for Prometheus.
    path = tmp_path / "platform.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    proc = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_all_layers_expected_by_default(prod_run):
    groups = prod_run.one(CR.format("PrometheusRule"), "dataops-platform").inputs["spec"]["groups"]
    expr = next(r["expr"] for g in groups for r in g["rules"] if r.get("record") == "dataops:platform:availability:by_layer")
    no_targets = next(r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "DataOpsLayerNoTargets")
    for layer in ("spark", "airflow", "trino", "iceberg", "storage", "gitops"):
        assert f'"layer", "{layer}"' in expr
        assert f'label_replace(vector(1), "layer", "{layer}", "", "")' in no_targets
