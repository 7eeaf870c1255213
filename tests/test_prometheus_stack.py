"""PrometheusStack under the mock engine: values, parents, dependencies, secrecy."""

from __future__ import annotations

from tools.mock_engine import Secret, leaked_secrets

RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENT = "dataops:monitoring:PrometheusStack"


def release_values(run):
    return run.one(RELEASE, "kube-prometheus-stack").inputs["values"]


def test_prod_release_carries_the_guides_values(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    assert release.inputs["chart"] == "kube-prometheus-stack"
    assert int(release.inputs["version"].split(".")[0]) >= 55
    assert release.inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    spec = release.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "15d"
    assert spec["replicas"] == 2 and spec["podAntiAffinity"] == "hard"
    assert spec["resources"] == {"requests": {"cpu": "2000m", "memory": "8Gi"}, "limits": {"cpu": "4000m", "memory": "16Gi"}}
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "longhorn" and claim["resources"]["requests"]["storage"] == "50Gi"
    assert spec["externalLabels"] == {"cluster": "dataops-prod", "environment": "prod", "platform": "dataops"}
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    am = release.inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert am["replicas"] == 3


def test_staging_is_small(staging_run):
    spec = release_values(staging_run)["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == 1 and spec["podAntiAffinity"] == ""
    assert spec["retention"] == "3d"
    assert release_values(staging_run)["alertmanager"]["alertmanagerSpec"]["replicas"] == 1


def test_grafana_sidecar_loads_dashboards_from_all_namespaces_into_folders(prod_run):
    grafana = release_values(prod_run)["grafana"]
    dashboards = grafana["sidecar"]["dashboards"]
    assert dashboards["label"] == "grafana_dashboard" and dashboards["labelValue"] == "1"
    assert dashboards["searchNamespace"] == "monitoring"  # only where Dashboards puts its ConfigMaps
    assert dashboards["folderAnnotation"] == "grafana_folder"
    assert "adminPassword" not in grafana, "the admin password must come from the generated Secret"
    assert grafana["admin"]["existingSecret"] == "grafana-admin"


def test_grafana_password_is_generated_secret_and_exported_as_secret(prod_run):
    password = prod_run.one("random:index/randomPassword:RandomPassword", "grafana-admin-password")
    assert "result" in password.additional_secret_outputs
    secret = prod_run.one("kubernetes:core/v1:Secret", "grafana-admin")
    assert isinstance(secret.inputs["stringData"], Secret)
    assert secret.inputs["stringData"].value["admin-password"] == "mock-generated-password"
    assert isinstance(prod_run.stack_outputs["grafanaAdminPassword"], Secret)
    assert not isinstance(prod_run.stack_outputs["grafanaAdminUser"], Secret)


def test_grafana_admin_credentials_reach_the_pod_as_files_only(prod_run, staging_run):
    """checkov CKV_K8S_35: with GF_SECURITY_ADMIN_{USER,PASSWORD}__FILE set, the grafana chart
    (12.11.1 _pod.tpl) renders no secretKeyRef variable for the admin Secret, in Grafana or in
    its sidecars; Grafana's run.sh and k8s-sidecar read the mounted files instead."""
    for run in (prod_run, staging_run):
        grafana = release_values(run)["grafana"]
        mount_dir = "/etc/secrets/grafana-admin"
        assert grafana["env"]["GF_SECURITY_ADMIN_USER__FILE"] == f"{mount_dir}/admin-user"
        assert grafana["env"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == f"{mount_dir}/admin-password"
        # run.sh refuses a variable set both ways; nothing of the Secret's as a plain or sourced variable.
        assert not {"GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"} & set(grafana["env"])
        assert "envValueFrom" not in grafana and "envFromSecret" not in grafana and "envFromSecrets" not in grafana
        [volume] = [m for m in grafana["extraSecretMounts"] if m["name"] == "grafana-admin"]
        assert volume == {"name": "grafana-admin", "secretName": "grafana-admin", "mountPath": mount_dir, "readOnly": True, "defaultMode": 0o440}
        for sidecar in ("dashboards", "datasources"):
            values = grafana["sidecar"][sidecar]
            assert values["env"]["REQ_USERNAME_FILE"] == f"{mount_dir}/admin-user"
            assert values["env"]["REQ_PASSWORD_FILE"] == f"{mount_dir}/admin-password"
            assert "envValueFrom" not in values
            assert {"name": "grafana-admin", "mountPath": mount_dir, "readOnly": True} in values["extraMounts"]


def test_grafana_admin_password_stays_a_pulumi_secret_out_of_the_release_values(prod_run):
    secret = prod_run.one("kubernetes:core/v1:Secret", "grafana-admin")
    assert isinstance(secret.inputs["stringData"], Secret)
    assert secret.inputs["metadata"]["name"] == release_values(prod_run)["grafana"]["extraSecretMounts"][0]["secretName"]
    assert "mock-generated-password" not in repr(release_values(prod_run))


def test_children_are_parented_to_the_component(prod_run):
    component = prod_run.one(COMPONENT, "prometheus-stack")
    for type_token, name in ((RELEASE, "kube-prometheus-stack"), ("kubernetes:core/v1:Secret", "grafana-admin"),
                             ("random:index/randomPassword:RandomPassword", "grafana-admin-password")):
        assert prod_run.one(type_token, name).parent == component.urn


def test_release_waits_for_the_admin_secret_and_namespace(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    secret = prod_run.one("kubernetes:core/v1:Secret", "grafana-admin")
    namespace = prod_run.one("kubernetes:core/v1:Namespace", "monitoring-namespace")
    assert secret.urn in release.dependencies
    assert namespace.urn in release.dependencies


def test_no_secret_value_appears_outside_a_secret_input(prod_run):
    assert prod_run.secret_values, "the run must know its secrets for this test to mean anything"
    for reg in prod_run.registrations:
        assert leaked_secrets(reg.inputs, prod_run.secret_values) == [], reg.name


def test_leak_check_catches_a_plaintext_secret():
    secret = "test-value-that-leaked"
    assert leaked_secrets({"values": {"a": [f"x{secret}y"]}}, frozenset({secret})) == ["values.a[0]"]
    assert leaked_secrets({"values": Secret({"a": secret})}, frozenset({secret})) == []


def test_grafana_root_url_is_the_configured_external_url(prod_run):
    assert release_values(prod_run)["grafana"]["grafana.ini"]["server"]["root_url"] == "https://grafana.dataops.internal"


def test_a_set_grafana_admin_password_replaces_the_generated_one(run_stack):
    # Teams with their own password policy set it; then nothing needs the random provider.
    from tests.conftest import random_secret, with_secrets

    chosen = random_secret("grafanaAdminPassword")
    run = run_stack("prod", {**with_secrets(), "dataops-monitoring:grafanaAdminPassword": chosen})
    assert not [r for r in run.registrations if r.type.startswith("random:")]
    secret = run.one("kubernetes:core/v1:Secret", "grafana-admin")
    assert secret.inputs["stringData"].value["admin-password"] == chosen.value
    assert isinstance(run.stack_outputs["grafanaAdminPassword"], Secret)


def test_the_chart_can_come_from_a_local_path_or_an_oci_registry(run_stack):
    from tests.conftest import with_secrets

    for location in ("./charts/kube-prometheus-stack-88.5.3.tgz", "oci://registry.example.com/charts/kube-prometheus-stack"):
        run = run_stack("prod", {**with_secrets(), "dataops-monitoring:kubePrometheusStackChart": location})
        release = run.one(RELEASE, "kube-prometheus-stack")
        assert release.inputs["chart"] == location
        assert "repositoryOpts" not in release.inputs  # the repository is not consulted
        assert release.inputs["name"] == "kube-prometheus-stack" and release.inputs["version"] == "88.5.3"


# ------------------------------------------------------------ controlPlaneMonitoring (managed clusters)

CONTROL_PLANE_SCRAPES = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
CONTROL_PLANE_GROUPS = ("kubeControllerManager", "kubeSchedulerAlerting", "kubeSchedulerRecording", "etcd", "kubeProxy")


def _lean(**overrides):
    from pathlib import Path

    from tools.mock_engine import run_program, stack_config

    config, keys = stack_config("lean", placeholder_secrets=False, path=Path(__file__).parent / "stacks" / "Pulumi.lean.yaml",
                                overrides={f"dataops-monitoring:{k}": v for k, v in overrides.items()})
    return run_program("lean", config, keys)


def test_managed_clusters_turn_off_the_control_plane_scrapes_and_rule_groups():
    """Set to false, every control-plane ServiceMonitor and its rule groups are off; the default
    (true) leaves the chart's values untouched, so the render is what it was."""
    off = release_values(_lean(controlPlaneMonitoring=False))
    for part in CONTROL_PLANE_SCRAPES:
        assert off[part] == {"enabled": False}, part
    assert {g: off["defaultRules"]["rules"][g] for g in CONTROL_PLANE_GROUPS} == dict.fromkeys(CONTROL_PLANE_GROUPS, False)
    # Only the control plane: kubelet, kube-state-metrics, node-exporter and the rest stay on.
    assert set(off["defaultRules"]["rules"]) == set(CONTROL_PLANE_GROUPS)
    on = release_values(_lean())
    assert not any(part in on for part in CONTROL_PLANE_SCRAPES) and "rules" not in on["defaultRules"]


def test_control_plane_keys_are_the_charts():
    """The keys were read from the chart version the setting deploys (docs/chart-default-rules.md
    records them with their values.yaml lines); a chart bump must re-read them."""
    import re

    from components.prometheus_stack.control_plane import CONTROL_PLANE_PARTS, control_plane_values
    from settings import SCHEMA_BY_KEY
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "chart-default-rules.md").read_text()
    section = doc.split("## On a managed cluster", 1)[1]
    assert f"chart {SCHEMA_BY_KEY['kubePrometheusStackVersion'].default}" in section
    named = set(re.findall(r"`([a-zA-Z.]+)`", section))
    values = control_plane_values(False)
    for part in CONTROL_PLANE_PARTS:
        assert f"{part}.enabled" in named and values[part] == {"enabled": False}, part
    for group in values["defaultRules"]["rules"]:
        assert f"defaultRules.rules.{group}" in named, group
    assert control_plane_values(True) == {}
