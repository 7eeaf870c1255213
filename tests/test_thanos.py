"""Thanos under the mock engine: objstore Secret, query path, compactor, receive, PDBs, CRs, rules."""

from __future__ import annotations


import re

import pytest
import yaml

from components.thanos import OBJSTORE_KEY, OBJSTORE_SECRET, SIDECAR_SERVICE
from settings import PROJECT, SettingsError
from tests.conftest import ROOT, random_secret, with_secrets
from tests.settings_util import load
from tools.mock_engine import SECRET_MASK, Secret, leaked_secrets, masked

COMPONENT = "dataops:monitoring:Thanos"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
IMAGE = "quay.io/thanos/thanos:v0.42.4"
RECEIVE_ON = {f"{PROJECT}:thanosReceiveEnabled": True}


def staging_secrets() -> dict:
    return with_secrets(("thanosAccessKey", "thanosSecretKey"))


def container(reg) -> dict:
    containers = reg.inputs["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def args_of(run, type_token: str, name: str) -> list[str]:
    return container(run.one(type_token, name))["args"]


def values(run) -> dict:
    return run.one(RELEASE, "kube-prometheus-stack").inputs["values"]


def objstore_document(run) -> dict:
    secret = run.one(SECRET, OBJSTORE_SECRET)
    assert isinstance(secret.inputs["stringData"], Secret), "objstore.yml holds credentials: the input must be secret"
    return yaml.safe_load(secret.inputs["stringData"].value[OBJSTORE_KEY])


# ---------------------------------------------------------------- object storage Secret


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_objstore_secret_is_secret_and_nothing_leaks(sample_run, stack):
    run = sample_run(stack)
    secret = run.one(SECRET, OBJSTORE_SECRET)
    assert secret.secret_paths() == ["stringData"]
    assert secret.namespace == "monitoring"
    assert len([v for v in run.secret_values if v.startswith("test-thanos")]) == 2
    for reg in run.registrations:
        assert leaked_secrets(reg.inputs, run.secret_values) == [], reg.name
    assert leaked_secrets(run.stack_outputs, run.secret_values) == []


def test_objstore_document_has_the_documented_s3_shape(run_stack):
    access, secret_key = random_secret("thanosAccessKey"), random_secret("thanosSecretKey")
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:thanosAccessKey": access, f"{PROJECT}:thanosSecretKey": secret_key})
    document = objstore_document(run)
    assert document["type"] == "S3"
    assert set(document) == {"type", "config"}
    config = document["config"]
    assert config["bucket"] == "dataops-thanos"
    assert config["endpoint"] == "s3.ap-northeast-2.amazonaws.com"
    assert config["region"] == "ap-northeast-2"
    assert config["insecure"] is False
    assert config["access_key"] == access.value and config["secret_key"] == secret_key.value
    assert config["signature_version2"] is False
    # Only keys of Thanos' s3.Config (docs/storage.md, v0.42): a typo would be a startup error.
    assert set(config) <= {"bucket", "endpoint", "region", "insecure", "access_key", "secret_key", "signature_version2", "bucket_lookup_type"}


def test_objstore_document_is_deterministic(run_stack):
    overrides = staging_secrets()
    first = run_stack("staging", overrides).one(SECRET, OBJSTORE_SECRET).inputs["stringData"].value[OBJSTORE_KEY]
    second = run_stack("staging", overrides).one(SECRET, OBJSTORE_SECRET).inputs["stringData"].value[OBJSTORE_KEY]
    assert first == second
    assert first == yaml.safe_dump(yaml.safe_load(first), sort_keys=True)


def test_staging_minio_is_plain_http(staging_run):
    config = objstore_document(staging_run)["config"]
    assert config["endpoint"] == "minio.storage.svc:9000" and config["insecure"] is True
    assert config["bucket_lookup_type"] == "auto"  # path style for MinIO / Ceph RGW


def test_render_shows_bucket_and_endpoint_but_masks_the_keys(staging_run):
    shown = masked(staging_run.one(SECRET, OBJSTORE_SECRET).inputs, staging_run.secret_values)["stringData"][OBJSTORE_KEY]
    assert "bucket: dataops-thanos-staging\n" in shown
    assert "endpoint: minio.storage.svc:9000\n" in shown
    assert f"access_key: {SECRET_MASK}\n" in shown and f"secret_key: {SECRET_MASK}\n" in shown
    assert not any(value in shown for value in staging_run.secret_values)


# ---------------------------------------------------------------- sidecar and Grafana


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_sidecar_uses_the_same_secret_and_image(sample_run, stack):
    run = sample_run(stack)
    spec = values(run)["prometheus"]["prometheusSpec"]
    secret = run.one(SECRET, OBJSTORE_SECRET)
    assert spec["thanos"]["objectStorageConfig"]["existingSecret"] == {"name": secret.inputs["metadata"]["name"], "key": OBJSTORE_KEY}
    assert OBJSTORE_KEY in secret.inputs["stringData"].value
    assert spec["thanos"]["image"] == IMAGE
    assert spec["replicaExternalLabelName"] == "prometheus_replica"
    assert values(run)["prometheus"]["thanosService"] == {"enabled": True}
    assert "remoteWrite" not in spec


def test_grafana_defaults_to_thanos_query_when_enabled(prod_run):
    grafana = values(prod_run)["grafana"]
    assert grafana["sidecar"]["datasources"]["isDefaultDatasource"] is False
    [ds] = grafana["additionalDataSources"]
    assert ds["uid"] == "thanos" and ds["isDefault"] is True
    assert ds["url"] == "http://thanos-query.monitoring.svc:9090"
    assert ds["jsonData"]["prometheusType"] == "Thanos"
    assert prod_run.stack_outputs["thanosQueryUrl"] == "http://thanos-query.monitoring.svc:9090"


def test_without_thanos_grafana_defaults_to_prometheus_and_nothing_is_deployed(run_stack):
    run = run_stack("staging", {f"{PROJECT}:thanosEnabled": False})
    grafana = values(run)["grafana"]
    assert grafana["sidecar"]["datasources"]["isDefaultDatasource"] is True
    assert "additionalDataSources" not in grafana
    prometheus = values(run)["prometheus"]
    assert "thanos" not in prometheus["prometheusSpec"] and "thanosService" not in prometheus
    assert run.by_type(COMPONENT) == []
    assert [r.name for r in run.registrations if r.name.startswith("thanos")] == []
    assert "thanosQueryUrl" not in run.stack_outputs


# ---------------------------------------------------------------- Query


def test_query_is_ha_in_prod_and_deduplicates_prometheus_pairs(prod_run, staging_run):
    query = prod_run.one(DEPLOYMENT, "thanos-query")
    assert query.inputs["spec"]["replicas"] == 2
    assert "affinity" in query.inputs["spec"]["template"]["spec"]
    assert staging_run.one(DEPLOYMENT, "thanos-query").inputs["spec"]["replicas"] == 1
    args = args_of(prod_run, DEPLOYMENT, "thanos-query")
    assert args[0] == "query"
    assert "--query.replica-label=prometheus_replica" in args
    assert not any(a.startswith("--store=") for a in args), "--store was removed in Thanos v0.38"


def query_endpoint_addresses(run) -> list[str]:
    """Addresses in Query's --endpoint.sd-config (the deprecated --endpoint flag must not be used)."""
    args = args_of(run, DEPLOYMENT, "thanos-query")
    assert not any(a.startswith("--endpoint=") for a in args), "--endpoint is deprecated in Thanos v0.42"
    [config] = [a.split("=", 1)[1] for a in args if a.startswith("--endpoint.sd-config=")]
    document = yaml.safe_load(config)  # what Thanos parses: YAML (our JSON is YAML)
    assert set(document) == {"endpoints"} and all(set(e) == {"address"} for e in document["endpoints"])
    return [e["address"] for e in document["endpoints"]]


def test_query_discovers_sidecars_and_store_gateway_by_srv(prod_run):
    # kube-prometheus-stack: "<fullnameOverride>-thanos-discovery", port named grpc.
    assert SIDECAR_SERVICE == "kube-prometheus-stack-thanos-discovery"
    assert query_endpoint_addresses(prod_run) == [
        "dnssrv+_grpc._tcp.kube-prometheus-stack-thanos-discovery.monitoring.svc.cluster.local",
        "dnssrv+_grpc._tcp.thanos-store.monitoring.svc.cluster.local",
        # The Ruler's governing Service (operator-made, port grpc): what it records is queryable.
        "dnssrv+_grpc._tcp.thanos-ruler-operated.monitoring.svc.cluster.local",
    ]
    store_service = prod_run.one(SERVICE, "thanos-store").inputs["spec"]
    assert store_service["clusterIP"] == "None"  # headless: one SRV target per replica
    assert {"name": "grpc", "port": 10901, "targetPort": "grpc", "protocol": "TCP"} in store_service["ports"]


def test_extra_store_endpoints_give_the_multi_cluster_view(run_stack):
    extra = ["thanos-query.dataops-dr.example.internal:10901", "dnssrv+_grpc._tcp.thanos-sidecar.other.svc.cluster.local"]
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:thanosStoreEndpoints": extra})
    assert query_endpoint_addresses(run)[-2:] == extra


def test_query_service_exposes_the_prometheus_port(prod_run):
    ports = prod_run.one(SERVICE, "thanos-query").inputs["spec"]["ports"]
    assert {"name": "http", "port": 9090, "targetPort": "http", "protocol": "TCP"} in ports
    assert {"name": "grpc", "port": 10901, "targetPort": "grpc", "protocol": "TCP"} in ports
    ports_by_name = {p["name"]: p["containerPort"] for p in container(prod_run.one(DEPLOYMENT, "thanos-query"))["ports"]}
    assert ports_by_name == {"http": 10902, "grpc": 10901}


# ---------------------------------------------------------------- Store Gateway, Compactor


def test_store_gateway_keeps_its_cache_on_a_volume(prod_run, staging_run):
    store = prod_run.one(STATEFULSET, "thanos-store")
    assert store.inputs["spec"]["replicas"] == 2
    [claim] = store.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "longhorn"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    staging = staging_run.one(STATEFULSET, "thanos-store")
    assert staging.inputs["spec"]["replicas"] == 1
    assert staging.inputs["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert "--objstore.config-file=/etc/thanos/objstore.yml" in args_of(prod_run, STATEFULSET, "thanos-store")


@pytest.mark.parametrize("stack,raw,m5,h1", [("prod", "15d", "90d", "1y"), ("staging", "7d", "30d", "90d")])
def test_compactor_is_a_singleton_with_retention_from_settings(sample_run, stack, raw, m5, h1):
    run = sample_run(stack)
    compact = run.one(STATEFULSET, "thanos-compact")
    assert compact.inputs["spec"]["replicas"] == 1
    args = args_of(run, STATEFULSET, "thanos-compact")
    assert args[0] == "compact" and "--wait" in args
    assert f"--retention.resolution-raw={raw}" in args
    assert f"--retention.resolution-5m={m5}" in args
    assert f"--retention.resolution-1h={h1}" in args
    assert "--downsampling.disable" not in args  # downsampling is Thanos' default
    mounts = {m["name"]: m["mountPath"] for m in container(compact)["volumeMounts"]}
    assert "--data-dir=" + mounts["data"] in args
    assert compact.inputs["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    # one compactor per bucket: no PDB could ever help it, and none is made
    assert all(p.name != "thanos-compact-pdb" for p in run.by_type(PDB))


# ---------------------------------------------------------------- Receive


def test_receive_is_off_by_default(prod_run):
    assert [r.name for r in prod_run.registrations if "receive" in r.name] == []
    assert not any("receive" in a for a in args_of(prod_run, DEPLOYMENT, "thanos-query"))


def test_receive_when_enabled_gets_remote_write_and_a_query_endpoint(run_stack):
    run = run_stack("staging", {**staging_secrets(), **RECEIVE_ON})
    receive = run.one(STATEFULSET, "thanos-receive")
    args = container(receive)["args"]
    assert args[0] == "receive"
    assert "--remote-write.address=0.0.0.0:19291" in args
    assert "--objstore.config-file=/etc/thanos/objstore.yml" in args
    service = run.one(SERVICE, "thanos-receive").inputs["spec"]
    assert {"name": "remote-write", "port": 19291, "targetPort": "remote-write", "protocol": "TCP"} in service["ports"]
    [remote_write] = values(run)["prometheus"]["prometheusSpec"]["remoteWrite"]
    assert remote_write["url"] == "http://thanos-receive.monitoring.svc:19291/api/v1/receive"
    query_args = args_of(run, DEPLOYMENT, "thanos-query")
    assert "dnssrv+_grpc._tcp.thanos-receive.monitoring.svc.cluster.local" in query_endpoint_addresses(run)
    assert "--query.replica-label=receive_replica" in query_args
    assert run.one(SERVICE_MONITOR, "thanos-receive-servicemonitor")
    # Receive uploads the blocks; a sidecar upload as well would store every sample twice.
    sidecar = values(run)["prometheus"]["prometheusSpec"]["thanos"]
    assert "objectStorageConfig" not in sidecar and sidecar["image"].startswith("quay.io/thanos/thanos:")


def test_receive_without_thanos_is_rejected():
    with pytest.raises(SettingsError) as excinfo:
        load({"environment": "staging", "clusterName": "c", "thanosEnabled": False, "thanosReceiveEnabled": True})
    assert "thanosReceiveEnabled is true but thanosEnabled is false" in str(excinfo.value)


# ---------------------------------------------------------------- pods


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_thanos_container_is_pinned_bounded_probed_and_non_root(run_stack, stack):
    overrides = (with_secrets() if stack == "prod" else staging_secrets()) | RECEIVE_ON
    run = run_stack(stack, overrides)
    workloads = [r for r in run.by_type(DEPLOYMENT) + run.by_type(STATEFULSET) if r.name.startswith("thanos-")]
    assert sorted(r.name for r in workloads) == ["thanos-compact", "thanos-query", "thanos-receive", "thanos-store"]
    for reg in workloads:
        pod = reg.inputs["spec"]["template"]["spec"]
        c = container(reg)
        assert c["image"] == IMAGE, reg.name
        for kind in ("requests", "limits"):
            assert set(c["resources"][kind]) == {"cpu", "memory"}, reg.name
        assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
        assert {"name": "http", "containerPort": 10902, "protocol": "TCP"} in c["ports"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert reg.namespace == "monitoring"
        selector = reg.inputs["spec"]["selector"]["matchLabels"]
        assert selector.items() <= reg.inputs["spec"]["template"]["metadata"]["labels"].items()


def test_pdbs_only_in_prod(prod_run, staging_run):
    pdbs = {r.name: r.inputs["spec"] for r in prod_run.by_type(PDB) if r.name.startswith("thanos-")}
    assert set(pdbs) == {"thanos-query-pdb", "thanos-store-pdb"}
    assert all(spec["minAvailable"] == 1 for spec in pdbs.values())
    assert pdbs["thanos-query-pdb"]["selector"] == prod_run.one(DEPLOYMENT, "thanos-query").inputs["spec"]["selector"]
    assert [r.name for r in staging_run.by_type(PDB) if r.name.startswith("thanos-")] == []


# ---------------------------------------------------------------- CRs and parents


def test_service_monitors_cover_every_component_and_wait_for_the_operator(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    # The Ruler's Service is the operator's (checked in the Ruler tests below).
    monitors = {r.name: r for r in prod_run.by_type(SERVICE_MONITOR) if r.name.startswith("thanos-") and r.name != "thanos-ruler-servicemonitor"}
    assert set(monitors) == {"thanos-query-servicemonitor", "thanos-store-servicemonitor", "thanos-compact-servicemonitor"}
    for name, monitor in monitors.items():
        component = name.removesuffix("-servicemonitor")
        assert release.urn in monitor.dependencies, name
        service = prod_run.one(SERVICE, component)
        selector = monitor.inputs["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service.inputs["metadata"]["labels"].items(), name
        assert monitor.inputs["metadata"]["labels"]["app.kubernetes.io/name"] == component
        assert monitor.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "pulumi"
        assert monitor.inputs["spec"]["endpoints"][0]["port"] == "http"
        assert any(p["name"] == "http" for p in service.inputs["spec"]["ports"]), name


def test_thanos_rules_are_loaded_from_the_file(prod_run):
    rule = prod_run.one(PROMETHEUS_RULE, "dataops-thanos")
    assert prod_run.one(RELEASE, "kube-prometheus-stack").urn in rule.dependencies
    assert rule.inputs["metadata"]["labels"]["dataops.io/rules"] == "true"
    from components.thanos import DASHBOARD, thanos_rule_groups
    from rules_util import as_deployed

    # prod runs the Ruler and no Receive: every group of the file but thanos-receive.
    assert rule.inputs["spec"]["groups"] == as_deployed("thanos", DASHBOARD, thanos_rule_groups(with_ruler=True, with_receive=False))


def test_everything_is_parented_to_the_thanos_component(run_stack):
    run = run_stack("prod", with_secrets() | RECEIVE_ON)
    component = run.one(COMPONENT, "thanos")
    children = {(r.type, r.name) for r in run.registrations if r.parent == component.urn}
    owned = {(r.type, r.name) for r in run.registrations if r.name.startswith("thanos") or r.name == "dataops-thanos"}
    owned.discard((COMPONENT, "thanos"))
    assert owned == children
    # Secret, 4 workloads, 4 Services, 2 PDBs, 4 ServiceMonitors, 1 PrometheusRule, ThanosRuler + its
    # ServiceMonitor, a NetworkPolicy per part (5) and the three Thanos adds to Prometheus, Grafana, Alertmanager.
    assert len(children) == 26
    assert all(run.one(t, n).namespace == "monitoring" for t, n in children)


# ---------------------------------------------------------------- settings the issue relies on


BASE = {"environment": "staging", "clusterName": "dataops-staging", "thanosEnabled": False}


def _problems(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as excinfo:
        load(values)
    return excinfo.value.problems


def test_1h_retention_shorter_than_5m_is_rejected():
    [problem] = _problems({**BASE, "thanosRetention5m": "90d", "thanosRetention1h": "30d"})
    assert "thanosRetention1h = '30d' is shorter than" in problem and "thanosRetention5m" in problem


def test_bad_retention_duration_is_rejected():
    [problem] = _problems({**BASE, "thanosRetentionRaw": "two weeks"})
    assert "thanosRetentionRaw = 'two weeks': not a duration" in problem


def test_thanos_keys_in_plain_text_are_rejected_without_echoing_them():
    values = {**BASE, "thanosEnabled": True, "thanosBucket": "b", "thanosEndpoint": "minio:9000",
              "thanosAccessKey": "plain-access-value", "thanosSecretKey": random_secret("thanosSecretKey")}
    [problem] = _problems(values)
    assert "thanosAccessKey is stored in plain text" in problem and "plain-access-value" not in problem


def test_store_endpoints_must_be_a_list_of_strings():
    [problem] = _problems({**BASE, "thanosStoreEndpoints": {"a": 1}})
    assert "thanosStoreEndpoints" in problem


def test_thanos_enabled_builds_a_bucket_with_secret_credentials():
    settings = load({**BASE, "thanosEnabled": True, "thanosBucket": "b", "thanosEndpoint": "minio:9000",
                     "thanosAccessKey": random_secret("thanosAccessKey"), "thanosSecretKey": random_secret("thanosSecretKey")})
    assert settings.thanos.bucket is not None and settings.thanos.bucket.bucket == "b"
    assert settings.thanos.image == IMAGE


# ---------------------------------------------------------------- rules, runbooks, tests


RULES = yaml.safe_load((ROOT / "rules" / "thanos.rules.yaml").read_text())
RULE_TESTS = yaml.safe_load((ROOT / "rules" / "tests" / "thanos.test.yaml").read_text())
ALERTS = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: f"{r['alert']}-{r['labels'].get('store_type', '')}")
def test_every_alert_is_a_thanos_alert_with_a_hands_on_runbook(rule):
    # Labels, Korean summary, runbook_url and dashboard links of every alert: tests/test_alerting.py.
    assert rule["labels"]["component"] == "thanos"
    runbook = ROOT / "docs" / "runbooks" / f"{rule['alert']}.md"
    assert "kubectl" in runbook.read_text()


@pytest.mark.parametrize("name", sorted({r["alert"] for r in ALERTS}))
def test_every_alert_has_a_firing_and_a_quiet_promtool_case(name):
    cases = [c for t in RULE_TESTS["tests"] for c in t.get("alert_rule_test", []) if c["alertname"] == name]
    assert any(c["exp_alerts"] for c in cases), f"{name}: no case where it fires"
    assert any(not c["exp_alerts"] for c in cases), f"{name}: no case where it must stay quiet"
    for case in cases:
        for alert in case["exp_alerts"]:
            assert alert["exp_labels"]["component"] == "thanos" and alert.get("exp_annotations"), name


def test_prod_needs_two_query_replicas_and_endpoints_take_no_scheme():
    from settings import SettingsError
    from tests.settings_util import load

    values = {"environment": "prod", "clusterName": "dataops-prod", "kubeContext": "dataops-prod", "icebergExporterImage": "registry.example/iceberg-exporter:1.0.0", "portalUrls": ["https://portal.example/"],
              "pagerdutyRoutingKey": random_secret("pd"), "slackWebhookUrl": random_secret("slack"), "deadMansSwitchUrl": random_secret("deadMansSwitchUrl"),
              "thanosBucket": "b", "thanosEndpoint": "https://minio.example:9000/", "thanosQueryReplicas": 1,
              "thanosAccessKey": random_secret("ak"), "thanosSecretKey": random_secret("sk")}
    with pytest.raises(SettingsError) as excinfo:
        load(values)
    joined = "\n".join(excinfo.value.problems)
    assert len(excinfo.value.problems) == 2, joined
    assert "thanosQueryReplicas = 1" in joined
    assert "thanosEndpoint = 'https://minio.example:9000/'" in joined and "thanosEndpoint minio.example:9000" in joined


# ---------------------------------------------------------------- Thanos Ruler (long SLO windows)

THANOS_RULER = "kubernetes:monitoring.coreos.com/v1:ThanosRuler"


def _rule_groups(run, name):
    return run.one(PROMETHEUS_RULE, name).inputs["spec"]["groups"]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_ruler_evaluates_the_budgets_longer_than_the_retention_against_query(sample_run, stack):
    run = sample_run(stack)
    ruler = run.one(THANOS_RULER, "thanos-ruler")
    spec = ruler.inputs["spec"]
    assert spec["queryEndpoints"] == ["thanos-query.monitoring.svc:9090"]
    assert spec["alertmanagersUrl"] == ["dnssrv+http://_http-web._tcp.alertmanager-operated.monitoring.svc.cluster.local"]
    assert spec["ruleSelector"] == {"matchLabels": {"dataops.io/rules": "true", "dataops.io/evaluator": "thanos-ruler"}}
    assert "storage" not in spec  # emptyDir: recorded blocks live in the bucket
    assert "ruleNamespaceSelector" not in spec  # its own namespace only
    assert spec["labels"] == {"cluster": f"dataops-{stack}", "environment": stack, "platform": "dataops"}
    assert spec["objectStorageConfig"] == {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY}
    assert spec["image"] == IMAGE and spec["replicas"] == (2 if stack == "prod" else 1)
    release = run.one(RELEASE, "kube-prometheus-stack")
    assert release.urn in ruler.dependencies
    assert "--query.replica-label=thanos_ruler_replica" in args_of(run, DEPLOYMENT, "thanos-query")
    monitor = run.one(SERVICE_MONITOR, "thanos-ruler-servicemonitor").inputs["spec"]
    # The operator's governing Service: label operated-thanos-ruler=true, HTTP port named web.
    assert monitor["selector"] == {"matchLabels": {"operated-thanos-ruler": "true"}} and monitor["endpoints"][0]["port"] == "web"

    # 30d budgets (prod keeps 15d, staging 3d): recorded and alerted on by the Ruler only.
    long_rule = run.one(PROMETHEUS_RULE, "dataops-slo-long-windows")
    assert spec["ruleSelector"]["matchLabels"].items() <= long_rule.inputs["metadata"]["labels"].items()
    # ... and Prometheus' selector excludes it, while still selecting every other rule of ours.
    selector = values(run)["prometheus"]["prometheusSpec"]["ruleSelector"]["matchExpressions"]
    assert {"key": "dataops.io/evaluator", "operator": "NotIn", "values": ["thanos-ruler"]} in selector
    assert {"key": "dataops.io/rules", "operator": "In", "values": ["true"]} in selector
    [budget] = _rule_groups(run, "dataops-slo-long-windows")
    assert budget["name"] == "dataops_slo_error_budget"
    assert {r.get("record") or r.get("alert") for r in budget["rules"]} == {"dataops:slo:error_budget_remaining", "SLOErrorBudgetExhausted"}
    assert all("[30d]" in r["expr"] or "30d" in r["expr"] or r.get("alert") for r in budget["rules"])
    # The burn-rate windows (<= 3d) stay in Prometheus, and nothing is evaluated twice.
    local = _rule_groups(run, "dataops-slo")
    assert "dataops_slo_error_budget" not in [g["name"] for g in local]
    local_records = [r.get("record") for g in local for r in g["rules"]]
    assert "dataops:slo:error_ratio:rate3d" in local_records and "dataops:slo:error_budget_remaining" not in local_records


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_ruler_budgets_read_downsampled_blocks_beyond_the_raw_retention(sample_run, stack):
    """The Ruler's budgets are instant queries through Query; Thanos v0.42.4 reads raw blocks
    only for those unless --query.instant.default.max_source_resolution says otherwise (and
    applies it only with --query.auto-downsampling: pkg/api/query/v1.go)."""
    from core.parsers import parse_duration

    run = sample_run(stack)
    query = args_of(run, DEPLOYMENT, "thanos-query")
    assert "--query.auto-downsampling" in query
    given = [a.split("=", 1)[1] for a in query if a.startswith("--query.instant.default.max_source_resolution=")]
    assert len(given) == 1, "without it the Ruler's budgets read raw blocks only (default 0s): they cover thanosRetentionRaw, not the SLO window"
    [resolution] = given
    compact = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args_of(run, STATEFULSET, "thanos-compact") if "=" in a}
    raw_s, h1_s = parse_duration(compact["--retention.resolution-raw"]), parse_duration(compact["--retention.resolution-1h"])
    # Every window the Ruler sums over (the SLO budgets: [30d] ranges and [30d:<step>] subqueries).
    windows = [parse_duration(w) for g in _rule_groups(run, "dataops-slo-long-windows") for r in g["rules"]
               for w in re.findall(r"\[([0-9]+[smhdwy])[:\]]", r["expr"])]
    longest = max(windows)
    assert longest == 30 * 86400  # the default SLOs' window (a stand-in check that the expressions were read)
    assert longest > raw_s, "the budgets would fit the raw retention: nothing to prove here"
    # The Store Gateway may answer from 1h-downsampled blocks (the coarsest there is) ...
    assert parse_duration(resolution) >= 3600, resolution
    # ... and the Compactor keeps those for at least the longest budget window.
    assert h1_s >= longest, (compact["--retention.resolution-1h"], longest)


def test_without_thanos_the_budgets_stay_in_prometheus_and_no_ruler_runs(run_stack):
    run = run_stack("staging", {f"{PROJECT}:thanosEnabled": False})
    assert run.by_type(THANOS_RULER) == []
    assert [r.name for r in run.by_type(PROMETHEUS_RULE) if r.name == "dataops-slo-long-windows"] == []
    assert "dataops_slo_error_budget" in [g["name"] for g in _rule_groups(run, "dataops-slo")]


def test_split_keeps_budgets_that_fit_the_retention_in_prometheus():
    from components.slo.rules import BUDGET_GROUP, slo_rule_groups, split_long_windows
    from components.slo.settings import SloSpec

    slos = (
        SloSpec("short", 0.99, "7d", "fits", error_ratio="1 - avg_over_time(up[${window}])"),
        SloSpec("long", 0.99, "30d", "does not fit", error_ratio="1 - avg_over_time(up[${window}])"),
    )
    local, ruler = split_long_windows(slo_rule_groups(slos), slos, "15d")
    [local_budget] = [g for g in local if g["name"] == BUDGET_GROUP]
    assert {r["labels"]["slo"] for r in local_budget["rules"]} == {"short"}
    assert [g["name"] for g in ruler] == [BUDGET_GROUP]
    assert {r["labels"]["slo"] for r in ruler[0]["rules"]} == {"long"}
    assert split_long_windows(slo_rule_groups(slos), slos, "60d")[1] == []


def test_with_other_clusters_in_query_the_budgets_stay_in_prometheus(run_stack):
    """A global Query would add other clusters' series into the Ruler's 30d sums."""
    extra = ["thanos-query.dataops-dr.example.internal:10901"]
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:thanosStoreEndpoints": extra})
    assert run.by_type(THANOS_RULER) == []
    assert [r.name for r in run.by_type(PROMETHEUS_RULE) if r.name == "dataops-slo-long-windows"] == []
    assert "dataops_slo_error_budget" in [g["name"] for g in _rule_groups(run, "dataops-slo")]
    args = args_of(run, DEPLOYMENT, "thanos-query")
    assert "--query.replica-label=thanos_ruler_replica" not in args
    assert not any("thanos-ruler-operated" in a for a in query_endpoint_addresses(run))


def test_retention_warning_only_where_no_ruler_covers_the_window(caplog):
    import logging

    base = {"environment": "staging", "clusterName": "dataops-staging", "prometheusRetention": "3d"}
    with_thanos = {**base, "thanosBucket": "b", "thanosEndpoint": "minio.storage.svc:9000", "thanosAccessKey": random_secret("ak"), "thanosSecretKey": random_secret("sk")}
    cases = {
        "no thanos": ({**base, "thanosEnabled": False}, True),
        "thanos": (with_thanos, False),
        "global query": ({**with_thanos, "thanosStoreEndpoints": ["thanos-query.dr.example.internal:10901"]}, True),
    }
    for name, (values, warned) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            load(values)
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert ("SLO platform-availability: window 30d is longer than" in text) == warned, (name, text)


def _alerts(run, rule_name):
    return {r["alert"] for g in _rule_groups(run, rule_name) for r in g["rules"] if "alert" in r}


def test_the_ruler_is_watched_by_prometheus_exactly_where_it_runs(run_stack, prod_run):
    """Without a Ruler the 30d budgets and SLOErrorBudgetExhausted stop silently; the alert
    on it is evaluated by Prometheus (dataops-thanos), and only exists where a Ruler runs
    (an absent() alert without a Ruler would fire forever)."""
    with_ruler = prod_run
    assert with_ruler.by_type(THANOS_RULER)
    assert "ThanosRulerIsDown" in _alerts(with_ruler, "dataops-thanos")
    labels = with_ruler.one(PROMETHEUS_RULE, "dataops-thanos").inputs["metadata"]["labels"]
    assert "dataops.io/evaluator" not in labels  # Prometheus evaluates it, not the Ruler itself
    extra = ["thanos-query.dataops-dr.example.internal:10901"]
    without = run_stack("prod", {**with_secrets(), f"{PROJECT}:thanosStoreEndpoints": extra})
    assert without.by_type(THANOS_RULER) == []
    alerts = _alerts(without, "dataops-thanos")
    assert "ThanosRulerIsDown" not in alerts and "ThanosQueryIsDown" in alerts


def test_receive_alerts_are_deployed_only_with_receive(run_stack, staging_run):
    """With Receive on, the sidecars upload nothing (ThanosSidecarNoUpload cannot fire): Receive's
    own group watches the uploads. Without Receive, its absent() alert would fire forever."""
    receive_alerts = {"ThanosReceiveIsDown", "ThanosReceiveHttpRequestErrorRateHigh", "ThanosReceiveNoUpload"}
    assert _alerts(staging_run, "dataops-thanos") & receive_alerts == set()
    with_receive = run_stack("staging", {**staging_secrets(), **RECEIVE_ON})
    alerts = _alerts(with_receive, "dataops-thanos")
    assert receive_alerts <= alerts and "ThanosQueryIsDown" in alerts


def test_rule_groups_follow_what_the_stack_runs():
    from components.thanos import RECEIVE_RULE_GROUP, RULER_RULE_GROUP, thanos_rule_groups

    def names(**kw):
        return [g["name"] for g in thanos_rule_groups(**kw)]

    assert names(with_ruler=False, with_receive=False) == ["thanos"]
    assert names(with_ruler=True, with_receive=False) == ["thanos", RULER_RULE_GROUP]
    assert names(with_ruler=False, with_receive=True) == ["thanos", RECEIVE_RULE_GROUP]
    assert names(with_ruler=True, with_receive=True) == ["thanos", RULER_RULE_GROUP, RECEIVE_RULE_GROUP]


def test_every_thanos_part_has_an_alert_for_when_it_vanishes():
    """`up == 0` is silent when the target is gone (no series): each part needs absent(up == 1)."""
    absent_jobs = {
        rule["alert"]: rule["expr"]
        for rule in ALERTS
        if rule["alert"].endswith("IsDown") and "absent(up{" in rule["expr"] and "== 1)" in rule["expr"]
    }
    for part, job in (("Query", "thanos-query"), ("Store", "thanos-store"), ("Compact", "thanos-compact"),
                      ("Sidecar", "thanos-discovery"), ("Receive", "thanos-receive"), ("Ruler", "thanos-ruler")):
        assert job in absent_jobs.get(f"Thanos{part}IsDown", ""), part


def test_thanos_pods_are_built_with_the_typed_helpers_of_core_k8s():
    """No pod as a raw dict: containers, volumes and security contexts are typed arguments, the
    pod spec comes from core.k8s.pod_spec (seccomp, no token) like every other component's."""
    from tests.conftest import ROOT

    for path in sorted((ROOT / "components" / "thanos").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        raw = [word for word in ('"containers"', '"containerPort"', '"volumeMounts"', '"runAsUser"', '"template"', "PodSpecArgs(") if word in text]
        assert raw == [], f"{path.name} builds a pod by hand: {raw}"
