"""The optional layers (Hive Metastore, Ceph, Oracle, PowerScale, Bitbucket) under the mock engine.

Each layer is off unless its settings name a target. With them set, a stack renders the
layer's scrape objects (job names matching what its rule file and the platform layer
select), its credentials in Kubernetes Secrets as secret inputs only, its PrometheusRule
with links injected, and the layer in dataops:platform:availability. Unset, nothing of
the layer exists. Bad settings fail with one message per problem naming the key and the
fix, never echoing a secret.
"""

from __future__ import annotations

import json

import re
import secrets
import subprocess
from typing import Any

import pytest
import yaml

from components.platform import BY_LAYER_RECORD, layer_jobs
from components.portal import TCP_MODULE, blackbox_config
from core.layers import layers as declared_layers
from core.rules import RULES_DIR, load_rule_file
from settings import PROJECT, SettingsError
from tests.conftest import PROD_SECRETS, random_secret, with_secrets
from tests.live import free_port, http_get, running, tool
from tests.settings_util import load
from tools.mock_engine import ProgramRun, Secret, run_program, stack_config

CR = "kubernetes:monitoring.coreos.com/{}"
RULE = CR.format("v1:PrometheusRule")
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENT_TYPES = {
    "hive": "dataops:monitoring:HiveMonitoring",
    "ceph": "dataops:monitoring:CephMonitoring",
    "oracle": "dataops:monitoring:OracleMonitoring",
    "powerscale": "dataops:monitoring:PowerScaleMonitoring",
    "bitbucket": "dataops:monitoring:BitbucketMonitoring",
}
DEFAULT_DASHBOARDS = {
    "hive": "dataops-04-data",
    "ceph": "dataops-02-resource",
    "oracle": "dataops-02-resource",
    "powerscale": "dataops-02-resource",
    "bitbucket": "dataops-01-gitops",
}
GRAFANA = "https://grafana.dataops.internal"
STAGING_SECRETS = ("thanosAccessKey", "thanosSecretKey")

# Random per run: no credential-looking literal in the repository.
ORACLE_USER = f"mon{secrets.token_hex(3)}"
ORACLE_PASSWORD = f"pw/{secrets.token_hex(8)}@x"  # '/' and '@' inside the password must survive the split
ORACLE_CONNECT = "dwh-db.example.com:1522/DWHPDB1"  # not the default port: the NetworkPolicy must follow it
POWERSCALE_PASSWORD = random_secret("powerscaleExporterPassword")
BITBUCKET_TOKEN = random_secret("bitbucketToken")

LAYER_SETTINGS: dict[str, dict[str, Any]] = {
    "hive": {"hiveMetastoreNamespace": "hive", "hiveMetastoreThriftAddress": "hive-metastore.hive.svc:9083"},
    "ceph": {"cephNamespace": "rook-ceph"},
    "oracle": {"oracleDatabase": "dwh", "oracleDsn": Secret(f"{ORACLE_USER}/{ORACLE_PASSWORD}@{ORACLE_CONNECT}")},
    "powerscale": {
        "powerscaleExporterUrl": "https://gostats.storage.example.com:9443/metrics",
        "powerscaleExporterUser": "prometheus",
        "powerscaleExporterPassword": POWERSCALE_PASSWORD,
    },
    "bitbucket": {"bitbucketMetricsUrl": "https://bitbucket.example.com/plugins/servlet/prometheus/metrics", "bitbucketToken": BITBUCKET_TOKEN},
}
# The layers this file turns on: those with a dashboard row of their own (core.layers registry).
LAYERS = tuple(layer.name for layer in declared_layers() if layer.dashboard_part)
assert set(LAYERS) == set(LAYER_SETTINGS), "a layer with a dashboard row needs its settings here"


def _run(stack: str, values: dict[str, Any], secret_keys=STAGING_SECRETS) -> ProgramRun:
    overrides = {**with_secrets(secret_keys), **{f"{PROJECT}:{k}": v for k, v in values.items()}}
    config, keys = stack_config(stack, placeholder_secrets=False, overrides=overrides)
    return run_program(stack, config, keys)


@pytest.fixture(scope="module")
def layers_on() -> ProgramRun:
    """Staging (no Portal URLs) with every optional layer set."""
    return _run("staging", {k: v for values in LAYER_SETTINGS.values() for k, v in values.items()})


@pytest.fixture(scope="module")
def layers_off() -> ProgramRun:
    return _run("staging", {})


def _rule_groups(name: str) -> list[dict[str, Any]]:
    return load_rule_file(RULES_DIR / f"{name}.rules.yaml")["groups"]


def _selected_jobs(domain: str) -> set[str]:
    """The job regexes the domain's rule file selects (up/probe_success{job=~"..."})."""
    exprs = " ".join(r["expr"] for g in _rule_groups(domain) for r in g["rules"])
    return set(re.findall(r'job=~"([^"]+)"', exprs))


def _assert_job_selected(domain: str, job: str) -> None:
    """The platform layer counts the job, and the domain's rules select it (some selector of its file)."""
    layer = layer_jobs()[domain]
    assert re.fullmatch(layer, job), f"{domain}: job {job!r} is not in the platform layer {layer!r}"
    regexes = _selected_jobs(domain)
    assert any(re.fullmatch(regex, job) for regex in regexes), f"{domain}: job {job!r} matches none of {sorted(regexes)}"


def _availability_expr(run: ProgramRun) -> str:
    groups = run.one(RULE, "dataops-platform").inputs["spec"]["groups"]
    return next(r["expr"] for g in groups for r in g["rules"] if r.get("record") == BY_LAYER_RECORD)


def _plain_strings(value: Any) -> list[str]:
    """Every string outside a secret-marked leaf."""
    if isinstance(value, Secret):
        return []
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_plain_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _plain_strings(v)]
    return [value] if isinstance(value, str) else []


def _secret_data(registration) -> dict[str, str]:
    """A Secret's stringData, asserting every value reaches the engine as a secret input."""
    data = registration.inputs["stringData"]
    whole = isinstance(data, Secret)
    data = data.value if whole else data
    for key, value in data.items():
        assert whole or isinstance(value, Secret), f"{registration.name}.stringData.{key} is not a secret input"
    return {k: v.value if isinstance(v, Secret) else v for k, v in data.items()}


def _assert_never_plain(run: ProgramRun, *values: str) -> None:
    for registration in run.registrations:
        for text in _plain_strings(registration.inputs):
            for value in values:
                assert value not in text, f"{registration.type} {registration.name} holds a secret in plain text"
    for text in _plain_strings(run.stack_outputs):
        assert not any(v in text for v in values), "a stack output holds a secret in plain text"


# --------------------------------------------------------------------------------------
# Every layer: its rule with links, the platform layer, the component
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", LAYERS)
def test_layer_deploys_its_rule_with_links_and_counts_in_platform_availability(layers_on, domain):
    rule = layers_on.one(RULE, f"dataops-{domain}")
    assert rule.inputs["metadata"]["labels"]["dataops.io/rules"] == "true"
    assert layers_on.one(RELEASE, "kube-prometheus-stack").urn in rule.dependencies
    assert rule.parent == layers_on.one(COMPONENT_TYPES[domain], domain).urn
    shipped = _rule_groups(domain)
    deployed = rule.inputs["spec"]["groups"]
    assert [g["name"] for g in deployed] == [g["name"] for g in shipped]
    alerts = [r for g in deployed for r in g["rules"] if "alert" in r]
    assert alerts, domain
    for alert in alerts:
        annotations = alert["annotations"]
        assert annotations["runbook_url"].endswith(f"/docs/runbooks/{alert['alert']}.md")
        assert annotations["dashboard_url"].startswith(f"{GRAFANA}/d/")
        assert "dashboard" not in annotations
    defaults = [a for a in alerts if a["annotations"]["dashboard_url"] == f"{GRAFANA}/d/{DEFAULT_DASHBOARDS[domain]}"]
    assert defaults, f"no {domain} alert links the domain's default dashboard"
    assert f'"layer", "{domain}"' in _availability_expr(layers_on)


@pytest.mark.parametrize("domain", LAYERS)
def test_layer_unset_deploys_nothing_of_it(layers_off, domain):
    assert not layers_off.by_type(COMPONENT_TYPES[domain])
    assert f"dataops-{domain}" not in {r.name for r in layers_off.by_type(RULE)}
    assert f'"layer", "{domain}"' not in _availability_expr(layers_off)
    components = {
        rule.get("labels", {}).get("component")
        for r in layers_off.by_type(RULE)
        for group in r.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert domain not in components


def test_unset_layers_leave_scrape_objects_secrets_and_values_alone(layers_off):
    names = {(r.type, r.name) for r in layers_off.registrations}
    for kind, name in [
        (CR.format("v1:Probe"), "hive-metastore-thrift"),
        (CR.format("v1:PodMonitor"), "hive-metastore"),
        (CR.format("v1:ServiceMonitor"), "rook-ceph-mgr"),
        (CR.format("v1:ServiceMonitor"), "rook-ceph-exporter"),
        (CR.format("v1:ServiceMonitor"), "oracledb-exporter"),
        ("kubernetes:apps/v1:Deployment", "oracledb-exporter"),
        (SECRET, "oracledb-exporter-credentials"),
        (CR.format("v1alpha1:ScrapeConfig"), "powerscale"),
        (SECRET, "powerscale-metrics-auth"),
        (SECRET, "bitbucket-scrape-config"),
    ]:
        assert (kind, name) not in names, name
    # Staging has no Portal URLs: without a Hive probe there is no blackbox_exporter either.
    assert not layers_off.by_type("dataops:monitoring:PortalMonitoring")
    values = layers_off.one(RELEASE, "kube-prometheus-stack").inputs["values"]
    assert "additionalScrapeConfigsSecret" not in values["prometheus"]["prometheusSpec"]


def test_every_rule_a_stack_with_all_layers_deploys_passes_promtool(layers_on, tmp_path):
    files = []
    for rule in layers_on.by_type(RULE):
        path = tmp_path / f"{rule.name}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": rule.inputs["spec"]["groups"]}, allow_unicode=True))
        files.append(str(path))
    proc = subprocess.run([tool("promtool"), "check", "rules", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    names = [g["name"] for r in layers_on.by_type(RULE) for g in r.inputs["spec"]["groups"]]
    assert len(names) == len(set(names))
    expr = _availability_expr(layers_on)
    for layer in layer_jobs():
        assert f'"layer", "{layer}"' in expr, layer


def test_spark_brings_the_jvm_rule(layers_off):
    # Spark runs jmx_exporter JVMs: the JVM rules come with it (components/jvm), under their own component.
    rule = layers_off.one(RULE, "dataops-jvm")
    assert rule.parent == layers_off.one("dataops:monitoring:JvmMonitoring", "jvm").urn
    alerts = [r for g in rule.inputs["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert [a["alert"] for a in alerts] == ["JvmHeapPressure"]
    assert alerts[0]["annotations"]["dashboard_url"] == f"{GRAFANA}/d/dataops-03-workload"


# --------------------------------------------------------------------------------------
# Hive Metastore
# --------------------------------------------------------------------------------------


def test_hive_probes_thrift_through_the_blackbox_exporter_with_tcp_connect(layers_on):
    probe = layers_on.one(CR.format("v1:Probe"), "hive-metastore-thrift")
    spec = probe.inputs["spec"]
    assert spec["jobName"] == "hive-metastore-thrift" and spec["module"] == TCP_MODULE
    assert spec["targets"]["staticConfig"]["static"] == ["hive-metastore.hive.svc:9083"]
    assert spec["prober"] == {"url": "blackbox-exporter.monitoring.svc:9115", "path": "/probe"}
    service = layers_on.one("kubernetes:core/v1:Service", "blackbox-exporter")
    assert service.urn in probe.dependencies and layers_on.one(RELEASE, "kube-prometheus-stack").urn in probe.dependencies
    _assert_job_selected("hive", spec["jobName"])
    # The exporter runs the module the probe names; staging has no Portal URLs, so no Portal probe or rules.
    config = yaml.safe_load(layers_on.one("kubernetes:core/v1:ConfigMap", "blackbox-exporter-config").inputs["data"]["blackbox.yml"])
    assert config == blackbox_config(tcp_connect=True) and TCP_MODULE in config["modules"]
    assert not [r for r in layers_on.by_type(CR.format("v1:Probe")) if r.name == "portal"]
    assert "dataops-portal" not in {r.name for r in layers_on.by_type(RULE)}
    # The exporter's NetworkPolicy lets it reach the Thrift port.
    assert _egress_ports(layers_on.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "blackbox-exporter")) == {9083}


def test_hive_scrapes_the_metastore_jmx_agent(layers_on):
    monitor = layers_on.one(CR.format("v1:PodMonitor"), "hive-metastore")
    spec = monitor.inputs["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["hive"]}
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": "hive-metastore"}}
    [endpoint] = spec["podMetricsEndpoints"]
    assert endpoint["port"] == "jmx-metrics"
    keep = endpoint["metricRelabelings"][0]["regex"]
    for name in ("hive_metastore_api_duration_seconds", "hive_metastore_directsql_errors_total", "jvm_memory_bytes_used"):
        assert re.fullmatch(keep, name), name
    # A PodMonitor's job is <namespace>/<name>.
    _assert_job_selected("hive", f"{monitor.inputs['metadata']['namespace']}/hive-metastore")


def test_hive_probe_keeps_the_portal_probe_in_prod():
    run = _run("prod", LAYER_SETTINGS["hive"], secret_keys=PROD_SECRETS)
    config = yaml.safe_load(run.one("kubernetes:core/v1:ConfigMap", "blackbox-exporter-config").inputs["data"]["blackbox.yml"])
    assert set(config["modules"]) == {"http_2xx", TCP_MODULE}
    assert run.one(CR.format("v1:Probe"), "portal").inputs["spec"]["module"] == "http_2xx"
    assert [d.name for d in run.by_type("kubernetes:apps/v1:Deployment")].count("blackbox-exporter") == 1


# --------------------------------------------------------------------------------------
# Ceph
# --------------------------------------------------------------------------------------


def test_ceph_scrapes_the_rook_mgr_and_exporter_services(layers_on):
    for name, port in (("rook-ceph-mgr", "http-metrics"), ("rook-ceph-exporter", "ceph-exporter-http-metrics")):
        monitor = layers_on.one(CR.format("v1:ServiceMonitor"), name)
        spec = monitor.inputs["spec"]
        assert spec["namespaceSelector"] == {"matchNames": ["rook-ceph"]}
        assert spec["selector"]["matchLabels"] == {"app": name, "rook_cluster": "rook-ceph"}
        [endpoint] = spec["endpoints"]
        assert endpoint["port"] == port and endpoint["path"] == "/metrics"
        assert layers_on.one(RELEASE, "kube-prometheus-stack").urn in monitor.dependencies
        _assert_job_selected("ceph", name)  # ServiceMonitor job = Service name
    keep = layers_on.one(CR.format("v1:ServiceMonitor"), "rook-ceph-exporter").inputs["spec"]["endpoints"][0]["metricRelabelings"][0]["regex"]
    for name in ("ceph_rgw_req", "ceph_rgw_failed_req", "ceph_rgw_op_get_obj_lat_sum", "ceph_rgw_put_initial_lat_count"):
        assert re.fullmatch(keep, name), name
    assert not re.fullmatch(keep, "ceph_osd_op_r")


# --------------------------------------------------------------------------------------
# Oracle
# --------------------------------------------------------------------------------------


def test_oracle_credentials_are_secret_inputs_of_a_kubernetes_secret_only(layers_on):
    secret = layers_on.one(SECRET, "oracledb-exporter-credentials")
    assert _secret_data(secret) == {"username": ORACLE_USER, "password": ORACLE_PASSWORD, "url": ORACLE_CONNECT}
    _assert_never_plain(layers_on, ORACLE_PASSWORD, f"{ORACLE_USER}/{ORACLE_PASSWORD}")


def test_oracle_exporter_is_hardened_and_reads_its_credentials_from_the_secret(layers_on):
    deployment = layers_on.one("kubernetes:apps/v1:Deployment", "oracledb-exporter")
    pod = deployment.inputs["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == "container-registry.oracle.com/database/observability-exporter:2.4.2"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env == {
        "DB_USERNAME": {"name": "oracledb-exporter-credentials", "key": "username"},
        "DB_CONNECT_STRING": {"name": "oracledb-exporter-credentials", "key": "url"},
    }
    # The config file holds no credential: ${VAR}s and a password file from the Secret volume.
    config_map = layers_on.one("kubernetes:core/v1:ConfigMap", "oracledb-exporter-config")
    config = yaml.safe_load(config_map.inputs["data"]["config.yaml"])
    database = config["databases"]["dwh"]
    assert database["username"] == "${DB_USERNAME}" and database["url"] == "${DB_CONNECT_STRING}"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == "oracledb-exporter-credentials"
    assert database["passwordFile"] == f"{mounts['password']}/{volumes['password']['secret']['items'][0]['path']}"
    assert container["args"] == [f"--config.file={mounts['config']}/config.yaml"]
    assert layers_on.one(SECRET, "oracledb-exporter-credentials").urn in deployment.dependencies


def _egress_ports(policy) -> set[int]:
    return {p["port"] for rule in policy.inputs["spec"]["egress"] for p in rule.get("ports", []) if p["port"] != 53}


def test_oracle_network_policy_allows_only_prometheus_in_and_the_listener_out(layers_on):
    policy = layers_on.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "oracledb-exporter")
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "oracledb-exporter"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [9161]
    assert _egress_ports(policy) == {1522}


def test_oracle_service_monitor_job_is_what_the_rules_select(layers_on):
    monitor = layers_on.one(CR.format("v1:ServiceMonitor"), "oracledb-exporter")
    service = layers_on.one("kubernetes:core/v1:Service", "oracledb-exporter")
    selector = monitor.inputs["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service.inputs["metadata"]["labels"].items()
    assert monitor.inputs["spec"]["endpoints"][0]["port"] in {p["name"] for p in service.inputs["spec"]["ports"]}
    _assert_job_selected("oracle", service.inputs["metadata"]["name"])


# --------------------------------------------------------------------------------------
# PowerScale
# --------------------------------------------------------------------------------------


def test_powerscale_scrape_config_with_basic_auth_from_a_secret(layers_on):
    scrape = layers_on.one(CR.format("v1alpha1:ScrapeConfig"), "powerscale")
    assert scrape.inputs["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    spec = scrape.inputs["spec"]
    assert spec["staticConfigs"] == [{"targets": ["gostats.storage.example.com:9443"]}]
    assert spec["metricsPath"] == "/metrics" and spec["scheme"] == "HTTPS"
    assert spec["basicAuth"] == {
        "username": {"name": "powerscale-metrics-auth", "key": "username"},
        "password": {"name": "powerscale-metrics-auth", "key": "password"},
    }
    _assert_job_selected("powerscale", spec["jobName"])
    secret = layers_on.one(SECRET, "powerscale-metrics-auth")
    assert secret.urn in scrape.dependencies
    assert _secret_data(secret) == {"username": "prometheus", "password": POWERSCALE_PASSWORD.value}
    _assert_never_plain(layers_on, POWERSCALE_PASSWORD.value)
    keep = spec["metricRelabelings"][0]["regex"]
    assert all(re.fullmatch(keep, n) for n in ("isilon_stat_ifs_percent_avail", "isilon_stat_cluster_node_count_down"))


def test_powerscale_without_auth_has_no_secret():
    run = _run("staging", {"powerscaleExporterUrl": "http://gostats.example.com:9090/metrics"})
    spec = run.one(CR.format("v1alpha1:ScrapeConfig"), "powerscale").inputs["spec"]
    assert "basicAuth" not in spec and spec["scheme"] == "HTTP"
    assert not [s for s in run.by_type(SECRET) if s.name == "powerscale-metrics-auth"]


# --------------------------------------------------------------------------------------
# Bitbucket
# --------------------------------------------------------------------------------------


def _bitbucket_scrape(run: ProgramRun) -> dict[str, Any]:
    # The scrape job holds the token: it must reach the engine as a secret input.
    return yaml.safe_load(_secret_data(run.one(SECRET, "bitbucket-scrape-config"))["bitbucket-scrape.yaml"])


def test_bitbucket_scrape_job_lives_in_a_secret_prometheus_loads(layers_on, tmp_path):
    [job] = _bitbucket_scrape(layers_on)
    assert job["job_name"] == "bitbucket" and job["params"] == {"token": [BITBUCKET_TOKEN.value]}
    assert job["scheme"] == "https" and job["metrics_path"] == "/plugins/servlet/prometheus/metrics"
    assert job["static_configs"] == [{"targets": ["bitbucket.example.com:443"]}]
    _assert_job_selected("bitbucket", job["job_name"])
    _assert_never_plain(layers_on, BITBUCKET_TOKEN.value)
    release = layers_on.one(RELEASE, "kube-prometheus-stack")
    values = release.inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["additionalScrapeConfigsSecret"] == {
        "enabled": True,
        "name": "bitbucket-scrape-config",
        "key": "bitbucket-scrape.yaml",
    }
    # Prometheus accepts the job as written (the operator appends it to the generated config).
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "30s"}, "scrape_configs": [job]}))
    proc = subprocess.run([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------
# Settings errors
# --------------------------------------------------------------------------------------

BASE = {"environment": "staging", "clusterName": "dataops-staging", "thanosEnabled": False}


def _problems(values: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as excinfo:
        load({**BASE, **values})
    return excinfo.value.problems


def _one(problems: list[str], key: str) -> str:
    found = [p for p in problems if f"{PROJECT}:{key}" in p]
    assert found, problems
    return found[0]


def test_unset_layers_are_off_in_settings():
    settings = load(BASE)
    assert not any(getattr(settings, layer).enabled for layer in LAYERS)


def test_all_layers_on_in_settings():
    values = {k: v for layer in LAYER_SETTINGS.values() for k, v in layer.items()}
    settings = load({**BASE, **values})
    assert all(getattr(settings, layer).enabled for layer in LAYERS)


@pytest.mark.parametrize(
    "values,key,expected",
    [
        ({"hiveMetastoreThriftAddress": "thrift://hms:9083"}, "hiveMetastoreThriftAddress", "without a scheme"),
        ({"hiveMetastoreThriftAddress": "hive-metastore"}, "hiveMetastoreThriftAddress", "must be host:port"),
        ({"hiveMetastoreNamespace": "hive"}, "hiveMetastoreThriftAddress", "hive-metastore.hive.svc:9083"),
        ({"cephNamespace": "Rook_Ceph"}, "cephNamespace", "DNS-1123"),
        ({"oracleDatabase": "dwh"}, "oracleDsn", "is not set"),
        ({"oracleDatabase": "DWH db"}, "oracleDatabase", "DNS-1123"),
        ({"oracleExporterImage": "container-registry.oracle.com/database/observability-exporter:latest"}, "oracleExporterImage", "pinned"),
        ({"powerscaleExporterUrl": "gostats:9090/metrics"}, "powerscaleExporterUrl", "http(s) URL"),
        ({"powerscaleExporterUrl": "https://admin:pw@gostats:9443/metrics"}, "powerscaleExporterUrl", "credentials"),
        ({"powerscaleExporterUrl": "https://gostats:9443/metrics", "powerscaleExporterUser": "prometheus"}, "powerscaleExporterPassword", "is not set"),
        ({"powerscaleExporterUser": "prometheus"}, "powerscaleExporterUrl", "nothing to scrape"),
        ({"bitbucketMetricsUrl": "https://bitbucket.example.com"}, "bitbucketMetricsUrl", "/plugins/servlet/prometheus/metrics"),
        ({"bitbucketMetricsUrl": "https://bitbucket.example.com/plugins/servlet/prometheus/metrics?token=x"}, "bitbucketMetricsUrl", "query"),
        ({"bitbucketMetricsUrl": "https://bitbucket.example.com/plugins/servlet/prometheus/metrics"}, "bitbucketToken", "is not set"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_layer_settings_name_the_key_and_the_fix(values, key, expected):
    problem = _one(_problems(values), key)
    assert expected in problem, problem
    assert f"Fix: pulumi config set {'--secret ' if key in ('oracleDsn', 'powerscaleExporterPassword', 'bitbucketToken') else ''}{PROJECT}:{key} " in problem, problem


def test_malformed_or_plain_oracle_dsn_is_reported_without_its_value():
    hidden = f"user-without-password-{secrets.token_hex(6)}"
    problem = _one(_problems({"oracleDatabase": "dwh", "oracleDsn": Secret(f"{hidden}@db:1521/ORCL")}), "oracleDsn")
    assert "<user>/<password>@" in problem and hidden not in problem
    assert "pulumi config set --secret" in problem
    plain = f"mon/{secrets.token_hex(6)}@db:1521/ORCL"
    problem = _one(_problems({"oracleDatabase": "dwh", "oracleDsn": plain}), "oracleDsn")
    assert "plain text" in problem and plain not in problem and "pulumi config rm" in problem


def test_plain_text_tokens_are_rejected_without_echo():
    token = f"tok-{secrets.token_hex(8)}"
    problem = _one(_problems({"bitbucketMetricsUrl": "https://bitbucket.example.com/plugins/servlet/prometheus/metrics", "bitbucketToken": token}), "bitbucketToken")
    assert "plain text" in problem and token not in problem


def test_secrets_of_layers_that_are_off_are_ignored():
    """An offline render gives every missing secret a placeholder: it must not turn a layer on."""
    settings = load({**BASE, "oracleDsn": random_secret("oracleDsn"), "powerscaleExporterPassword": random_secret("p"), "bitbucketToken": random_secret("t")})
    assert not any(getattr(settings, layer).enabled for layer in LAYERS)


# --------------------------------------------------------------------------------------
# The tcp_connect module with the real blackbox_exporter
# --------------------------------------------------------------------------------------


@pytest.mark.live
def test_tcp_connect_module_with_the_real_blackbox_exporter(tmp_path):
    import socket

    blackbox = tool("prometheus-blackbox-exporter")
    (tmp_path / "blackbox.yml").write_text(yaml.safe_dump(blackbox_config(tcp_connect=True)))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closed_port = free_port()  # nothing listens there
    port = free_port()
    try:
        args = [blackbox, f"--config.file={tmp_path / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}"]
        with running(args, tmp_path / "blackbox.log", f"http://127.0.0.1:{port}/-/healthy"):
            def probe(target: str) -> float:
                body = http_get(f"http://127.0.0.1:{port}/probe?module={TCP_MODULE}&target={target}", timeout=10).decode()
                return float(re.search(r"^probe_success (\S+)$", body, re.M).group(1))

            assert probe(f"127.0.0.1:{listener.getsockname()[1]}") == 1.0
            assert probe(f"127.0.0.1:{closed_port}") == 0.0
    finally:
        listener.close()


class _FakeBitbucketApp:
    """The app's servlet as PrometheusExporter.java behaves: 401 unless ?token= matches."""

    def __init__(self, token: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        from components.bitbucket.settings import APP_PATH

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                parts = urlsplit(self.path)
                if parts.path != APP_PATH or parse_qs(parts.query).get("token") != [token]:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = (
                    "# TYPE bitbucket_total_repositories_gauge gauge\nbitbucket_total_repositories_gauge 42\n"
                    "# TYPE jvm_memory_bytes_used gauge\njvm_memory_bytes_used{area=\"heap\"} 1.0e9\n"
                    "# TYPE jvm_threads_current gauge\njvm_threads_current 120\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.live
def test_bitbucket_scrape_job_with_real_prometheus(tmp_path):
    """The job from the Secret, run by a real Prometheus: the token passes as ?token=, the job is
    "bitbucket", the keep-list drops what no rule reads; a wrong token reads as up == 0."""
    from components.bitbucket import scrape_configs
    from components.bitbucket.settings import APP_PATH
    from core.parsers import ScrapeUrl
    from tests.live import prom_query, wait_until

    token = secrets.token_hex(12)
    app = _FakeBitbucketApp(token)
    try:
        url = ScrapeUrl(scheme="HTTP", target=app.address, path=APP_PATH)
        [good] = scrape_configs(url, token)
        [bad] = scrape_configs(url, token + "x")
        bad["job_name"] = "bitbucket-wrong-token"
        for job in (good, bad):
            job["scrape_interval"] = "1s"
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [good, bad]}))
        args = [
            tool("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        base = f"http://127.0.0.1:{prom_port}"
        with running(args, tmp_path / "prometheus.log", f"{base}/-/ready"):
            up = wait_until(lambda: len(prom_query(base, "up")) == 2 and prom_query(base, "up"), 30, "both targets scraped")
            assert {r["metric"]["job"]: float(r["value"][1]) for r in up} == {"bitbucket": 1.0, "bitbucket-wrong-token": 0.0}
            _assert_job_selected("bitbucket", "bitbucket")
            kept = wait_until(lambda: prom_query(base, '{job="bitbucket", __name__!~"up|scrape_.+"}'), 30, "bitbucket series")
            assert sorted(r["metric"]["__name__"] for r in kept) == ["bitbucket_total_repositories_gauge", "jvm_memory_bytes_used"]
    finally:
        app.close()


# Every series a domain's rules read from its own scrape survives the scrape's keep-list.
KEEP_SOURCES = {
    "hive": [(CR.format("v1:PodMonitor"), "hive-metastore", "podMetricsEndpoints")],
    "ceph": [(CR.format("v1:ServiceMonitor"), "rook-ceph-mgr", "endpoints"), (CR.format("v1:ServiceMonitor"), "rook-ceph-exporter", "endpoints")],
    "oracle": [(CR.format("v1:ServiceMonitor"), "oracledb-exporter", "endpoints")],
    "powerscale": [(CR.format("v1alpha1:ScrapeConfig"), "powerscale", None)],
}
OWN_PREFIXES = {"hive": "hive_metastore_", "ceph": "ceph_", "oracle": "oracledb_", "powerscale": "isilon_", "bitbucket": "bitbucket_"}


def _keep_regexes(run: ProgramRun, domain: str) -> list[str]:
    if domain == "bitbucket":
        return [r["regex"] for job in _bitbucket_scrape(run) for r in job["metric_relabel_configs"] if r["action"] == "keep"]
    regexes = []
    for kind, name, endpoints in KEEP_SOURCES[domain]:
        spec = run.one(kind, name).inputs["spec"]
        for endpoint in spec[endpoints] if endpoints else [spec]:
            regexes += [r["regex"] for r in endpoint.get("metricRelabelings", []) if r["action"] == "keep"]
    return regexes


@pytest.mark.parametrize("domain", LAYERS)
def test_the_series_a_layers_rules_read_survive_its_keep_list(layers_on, domain):
    from tests.rules_util import promql_metric_names

    read = {
        name
        for group in _rule_groups(domain) + (_rule_groups("jvm") if domain in ("hive", "bitbucket") else [])
        for rule in group["rules"]
        for name in promql_metric_names(rule["expr"])
        if name.startswith(OWN_PREFIXES[domain]) or (domain in ("hive", "bitbucket") and name.startswith("jvm_"))
    }
    assert read, domain
    regexes = _keep_regexes(layers_on, domain)
    assert regexes, domain
    dropped = sorted(n for n in read if not any(re.fullmatch(rx, n) for rx in regexes))
    assert not dropped, f"{domain}: the scrape drops series its rules read: {dropped}"


def test_dashboards_show_the_rows_of_the_layers_a_stack_deploys(layers_on, layers_off):
    rows = {"01-dataops-gitops-pipeline.json": "Bitbucket", "02-dataops-resource-capacity.json": "Ceph",
            "04-dataops-data-pipeline.json": "Hive Metastore"}

    def titles(run, file_name):
        cm = run.one("kubernetes:core/v1:ConfigMap", "grafana-dashboard-" + file_name.removesuffix(".json"))
        return {p["title"] for p in json.loads(cm.inputs["data"][file_name])["panels"]}

    for file_name, row in rows.items():
        assert row in titles(layers_on, file_name), row
        assert row not in titles(layers_off, file_name), row
