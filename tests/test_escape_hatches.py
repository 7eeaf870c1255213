"""Escape hatches, each shown on its own fixture stack (tests/stacks/Pulumi.hatches.yaml)
or on literal settings: chart values passed through with our keys protected, resources per Thanos
part, Thanos on a workload identity instead of static keys, Grafana's Ingress, several Trino namespaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.prometheus_stack import overrides
from components.thanos import OBJSTORE_KEY, OBJSTORE_SECRET
from settings import PROJECT, SCHEMA_BY_KEY, SettingsError
from tests.conftest import random_secret
from tests.settings_util import load
from tools.mock_engine import ProgramRun, Secret, run_program, stack_config

HATCHES = Path(__file__).parent / "stacks" / "Pulumi.hatches.yaml"
LEAN = Path(__file__).parent / "stacks" / "Pulumi.lean.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"
PROD_NOTIFY = ("pagerdutyRoutingKey", "slackWebhookUrl", "deadMansSwitchUrl")
ROLE = "arn:aws:iam::000000000000:role/dataops-thanos-hatches"
P = PROJECT


def _run(path: Path, stack: str, **overrides_: Any) -> ProgramRun:
    extra = {f"{P}:{k}": random_secret(k) for k in PROD_NOTIFY}
    extra.update({f"{P}:{k}": v for k, v in overrides_.items()})
    config, keys = stack_config(stack, placeholder_secrets=False, path=path, overrides=extra)
    return run_program(stack, config, keys)


@pytest.fixture(scope="module")
def hatches() -> ProgramRun:
    return _run(HATCHES, "hatches")


def _values(run: ProgramRun) -> dict:
    return run.one(RELEASE, "kube-prometheus-stack").inputs["values"]


def _problems(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as err:
        load(values)
    return err.value.problems


def _leaves(tree: Any, prefix: tuple = ()) -> set[tuple]:
    if isinstance(tree, dict) and tree:
        return set().union(*(_leaves(v, prefix + (k,)) for k, v in tree.items()))
    return {prefix}


# ---- kubePrometheusStackValues ----------------------------------------------------------


def test_overrides_are_merged_over_our_values(hatches):
    values = _values(hatches)
    # The team's values are there ...
    assert values["defaultRules"]["rules"] == {"etcd": False}
    assert values["grafana"]["ingress"]["annotations"] == {"cert-manager.io/cluster-issuer": "hatches-issuer"}
    assert values["kube-state-metrics"]["resources"]["limits"]["memory"] == "512Mi"
    assert values["kube-state-metrics"]["resources"]["requests"]  # the profile's sizing, where not overridden
    # ... beside ours, which they did not replace.
    assert values["defaultRules"]["create"] is True and values["defaultRules"]["labels"]
    assert values["grafana"]["ingress"]["hosts"] == ["grafana.hatches.invalid"]
    assert values["kube-state-metrics"]["customResourceState"]["enabled"] is True  # Spark's contribution


def test_every_value_a_render_computes_is_protected(hatches):
    """The protected list is derived from chart_values: every leaf a real render holds, other than
    the team's own overrides, is in it (a value added to the code without protection fails here)."""
    owned = overrides.owned_paths()
    document = yaml.safe_load(HATCHES.read_text())["config"][f"{P}:kubePrometheusStackValues"]
    # The chart pods' sizing defaults are the team's to tune (overrides.tunable_paths).
    theirs = _leaves(document) | overrides.tunable_paths()
    for run in (hatches, _run(LEAN, "lean")):
        for leaf in _leaves(_values(run)) - theirs:
            assert any(leaf[: len(o)] == o for o in owned), f"{'.'.join(leaf)} is computed but not protected"


def test_each_owning_setting_entry_matches_an_owned_value_and_names_real_settings():
    owned = overrides.owned_paths()
    for prefix, names in overrides.OWNING_SETTINGS.items():
        parts = tuple(prefix.replace("grafana.ini", "\0").split("."))
        parts = tuple(p.replace("\0", "grafana.ini") for p in parts)
        assert any(o[: len(parts)] == parts for o in owned), f"stale entry {prefix}"
        if not names.startswith("the "):
            for name in names.split(", "):
                assert name in SCHEMA_BY_KEY, f"{prefix}: {name} is not a setting"


def test_an_owned_key_is_a_settings_error_naming_key_value_and_setting():
    problems = _problems({
        "kubePrometheusStackValues": {
            "prometheus": {"prometheusSpec": {"replicas": 5, "retention": "30d", "resources": "big"}},
            "grafana": {"grafana.ini": {"server": {"root_url": "https://elsewhere.invalid"}}},
            "fullnameOverride": "mine",
            "nodeExporter": {"enabled": False},  # not ours: fine
        }
    })
    joined = "\n".join(problems)
    assert len(problems) == 5, joined
    full = f"{P}:kubePrometheusStackValues"
    assert f"{full}.prometheus.prometheusSpec.replicas = 5: prometheus.prometheusSpec.replicas is set by prometheusReplicas" in joined
    assert f"{full}.prometheus.prometheusSpec.retention = \"30d\"" in joined and "set by prometheusRetention" in joined
    # An object's leaves are separate values: a string over our resources object collides with all of them.
    assert f"{full}.prometheus.prometheusSpec.resources = \"big\": prometheus.prometheusSpec.resources is set by prometheusCpuLimit, prometheusCpuRequest" in joined
    # A key with a dot is bracketed the way `pulumi config set --path` takes it.
    assert f"{full}.grafana[\"grafana.ini\"].server.root_url" in joined and "set by grafanaUrl" in joined
    assert f"{full}.fullnameOverride = \"mine\": fullnameOverride is set by this program (no setting changes it)" in joined
    for problem in problems:
        assert "Fix: pulumi config rm --path '" in problem


def test_an_unowned_key_below_an_owned_object_is_merged():
    settings = load({"kubePrometheusStackValues": {"grafana": {"persistence": {"accessModes": ["ReadWriteMany"]}}, "defaultRules": {"rules": {"kubeProxy": False}}}})
    assert settings.prometheus_stack.overrides["grafana"]["persistence"] == {"accessModes": ["ReadWriteMany"]}


def test_grafanas_own_mounts_are_refused_and_the_documented_way_to_mount_a_secret_is_merged():
    """docs/grafana.md: the admin-file mount, /tmp and the security context are the program's; a
    team mounts its own client secret through extraVolumes/extraVolumeMounts."""
    mount = [{"name": "oauth", "mountPath": "/etc/secrets/oauth", "secretName": "grafana-oauth", "readOnly": True}]
    problems = _problems({"kubePrometheusStackValues": {"grafana": {"extraSecretMounts": mount, "securityContext": {"runAsUser": 472}}}})
    assert len(problems) == 2 and all("is set by this program" in p for p in problems), "\n".join(problems)
    volumes = {"extraVolumes": [{"name": "oauth", "secret": {"secretName": "grafana-oauth"}}],
               "extraVolumeMounts": [{"name": "oauth", "mountPath": "/etc/secrets/oauth", "readOnly": True}]}
    settings = load({"kubePrometheusStackValues": {"grafana": volumes}})
    assert {k: settings.prometheus_stack.overrides["grafana"][k] for k in volumes} == volumes


def test_a_secret_marked_values_object_is_refused_without_echoing_it():
    hidden = random_secret("x").value
    problems = _problems({"kubePrometheusStackValues": Secret(json.dumps({"grafana": {"env": {"GF_SECURITY_SECRET_KEY": hidden}}}))})
    assert len(problems) == 1 and "holds a secret value" in problems[0] and hidden not in problems[0]


def test_a_plain_credential_in_the_values_fails_the_policy_pack():
    """A credential pasted in plain text reaches the Helm values; the policy pack's
    no-plaintext-credentials rule (which scans every Helm release's values) refuses it."""
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "policy"))
    from tests.test_policy import Resource, evaluate

    hidden = random_secret("oauth").value
    run = _run(HATCHES, "hatches", kubePrometheusStackValues={"grafana": {"env": {"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": hidden}}})
    release = run.one(RELEASE, "kube-prometheus-stack")
    found = evaluate(Resource(release.type, release.name, release.urn, release.parent, release.inputs, release.protect))
    messages = [v.message for v in found if v.policy == "no-plaintext-credentials"]
    assert any("GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET" in m for m in messages), found


def test_an_override_shows_in_the_review_diff(tmp_path):
    from tools import review_diff as rd
    from tools.render import render

    def rendered(name: str, extra: dict) -> dict:
        document = yaml.safe_load(HATCHES.read_text())
        document["config"].update({f"{P}:{k}": v for k, v in extra.items()})
        path = tmp_path / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        out, _ = render("hatches", tmp_path / name, path)
        return json.loads(out.read_text())

    base = rendered("base", {})
    values = yaml.safe_load(HATCHES.read_text())["config"][f"{P}:kubePrometheusStackValues"]
    head = rendered("head", {"kubePrometheusStackValues": {**values, "prometheus-node-exporter": {"resources": {"limits": {"memory": "64Mi"}}}}})
    text, changed = rd.report(rd.Render("base", base), rd.Render("head", head), "hatches")
    assert changed
    helm = text.split("## Helm values", 1)[1].split("\n## ", 1)[0]
    assert "prometheus-node-exporter.resources.limits.memory" in helm and "64Mi" in helm, helm


# ---- Thanos resources --------------------------------------------------------------------

# The values the parts had before the settings existed (hard-coded in each part's module).
BEFORE = {
    "thanos-query": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    "thanos-store": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}},
    "thanos-compact": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    "thanos-receive": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
    "thanos-ruler": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}


def _resources(run: ProgramRun) -> dict[str, dict]:
    found = {}
    for reg in run.registrations:
        if reg.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet") and reg.name.startswith("thanos-"):
            found[reg.name] = reg.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]
        if reg.type.endswith(":ThanosRuler"):
            found["thanos-ruler"] = reg.inputs["spec"]["resources"]
    return found


def test_thanos_resources_default_to_the_former_values():
    run = _run(HATCHES, "hatches", thanosStoreResources=None, thanosCompactResources=None, thanosReceiveEnabled=True)
    assert _resources(run) == BEFORE


def test_thanos_resources_are_set_per_part(hatches):
    found = _resources(hatches)
    assert found["thanos-store"] == {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "12Gi"}}
    assert found["thanos-compact"] == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}}
    assert found["thanos-query"] == BEFORE["thanos-query"]


def test_thanos_resources_are_validated_leaf_by_leaf():
    problems = _problems({
        "thanosStoreResources": {"limits": {"memory": "lots"}},
        "thanosQueryResources": {"requests": {"cpu": "2"}},  # over the 1 CPU limit
        "thanosCompactResources": {"limit": {"cpu": "1"}},
    })
    joined = "\n".join(problems)
    assert len(problems) == 3, joined
    assert f"{P}:thanosStoreResources.limits.memory = 'lots'" in joined
    assert f"pulumi config set --path '{P}:thanosStoreResources.limits.memory' 4Gi" in joined
    assert f"{P}:thanosQueryResources.requests.cpu = '2' is larger than {P}:thanosQueryResources.limits.cpu = '1'" in joined
    assert f"pulumi config set --path '{P}:thanosQueryResources.limits.cpu' 2" in joined
    assert f"{P}:thanosCompactResources.limit: unknown key" in joined


# ---- Thanos on a workload identity ----------------------------------------------------------


def test_a_workload_identity_replaces_the_static_keys(hatches):
    account = hatches.one("kubernetes:core/v1:ServiceAccount", "thanos").inputs
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE}
    data = hatches.one("kubernetes:core/v1:Secret", OBJSTORE_SECRET).inputs["stringData"]
    data = getattr(data, "value", data)  # secret markers of the mock engine hold their value
    document = yaml.safe_load(getattr(data[OBJSTORE_KEY], "value", data[OBJSTORE_KEY]))
    assert "access_key" not in document["config"] and "secret_key" not in document["config"]
    assert document["config"]["bucket"] == "dataops-thanos-hatches"
    pods = [r.inputs["spec"]["template"]["spec"] for r in hatches.registrations
            if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet") and r.name.startswith("thanos-")]
    assert pods and all(p.get("serviceAccountName") == "thanos" for p in pods)
    assert next(r for r in hatches.registrations if r.type.endswith(":ThanosRuler")).inputs["spec"]["serviceAccountName"] == "thanos"
    # The sidecar uploads from the Prometheus pods: their ServiceAccount carries the role too.
    assert _values(hatches)["prometheus"]["serviceAccount"] == {"annotations": {"eks.amazonaws.com/role-arn": ROLE}}


def test_without_an_identity_nothing_changes_for_keyed_stacks():
    keyed = {"profile": "staging", "clusterName": "dataops-test", "thanosBucket": "b", "thanosEndpoint": "minio.storage.svc:9000",
             "thanosAccessKey": random_secret("ak"), "thanosSecretKey": random_secret("sk")}
    assert load(keyed).thanos.service_account_annotations == {}
    problems = _problems({**keyed, "thanosAccessKey": None, "thanosSecretKey": None})
    assert {p.split(" ")[0] for p in problems} == {f"{P}:thanosAccessKey", f"{P}:thanosSecretKey"}


def test_prod_needs_no_static_keys_with_an_identity():
    identity = {"profile": "prod", "thanosBucket": "b", "thanosEndpoint": "s3.eu-west-1.amazonaws.com",
                "thanosServiceAccountAnnotations": {"eks.amazonaws.com/role-arn": ROLE}}
    problems = "\n".join(_problems(identity))  # prod's other requirements (notification secrets) still apply
    assert "thanosAccessKey" not in problems and "thanosSecretKey" not in problems
    both = "\n".join(_problems({**identity, "thanosAccessKey": random_secret("ak"), "thanosSecretKey": random_secret("sk")}))
    assert f"{P}:thanosServiceAccountAnnotations is set together with static S3 keys" in both
    assert f"pulumi config rm {P}:thanosAccessKey && pulumi config rm {P}:thanosSecretKey" in both


def test_the_strict_render_does_not_ask_for_keys_with_an_identity(tmp_path, capsys):
    from tools import render

    code = render.main(["hatches", "--stack-file", str(HATCHES), "--out", str(tmp_path), "--strict"])
    text = capsys.readouterr()
    output = text.out + text.err
    assert code == 2 and "pagerdutyRoutingKey is not set" in output  # the file holds no notification secrets
    assert "thanosAccessKey" not in output and "thanosSecretKey" not in output


def test_bad_annotations_are_reported_with_a_path_fix():
    problems = _problems({"thanosServiceAccountAnnotations": {"Not Valid/key": "x", "iam.gke.io/gcp-service-account": ""}})
    joined = "\n".join(problems)
    assert len(problems) == 2, joined
    assert f"{P}:thanosServiceAccountAnnotations[\"Not Valid/key\"] = 'x': must be an annotation key" in joined
    assert f"pulumi config set --path '{P}:thanosServiceAccountAnnotations[\"eks.amazonaws.com/role-arn\"]' <value>" in joined


# ---- Grafana Ingress ---------------------------------------------------------------------

# The grafana chart's ingress keys (grafana-community/helm-charts charts/grafana/values.yaml, the
# subchart of kube-prometheus-stack 88.5.3): enabled, ingressClassName, annotations, labels, path,
# pathType, hosts (host names), extraPaths, tls ([{secretName, hosts}]).
GRAFANA_INGRESS_KEYS = {"enabled", "ingressClassName", "annotations", "labels", "path", "pathType", "hosts", "extraPaths", "tls"}


def test_grafana_ingress_is_at_grafana_url(hatches):
    ingress = _values(hatches)["grafana"]["ingress"]
    assert set(ingress) <= GRAFANA_INGRESS_KEYS
    assert ingress == {
        "enabled": True, "ingressClassName": "nginx", "hosts": ["grafana.hatches.invalid"], "path": "/", "pathType": "Prefix",
        "tls": [{"secretName": "grafana-hatches-tls", "hosts": ["grafana.hatches.invalid"]}],
        "annotations": {"cert-manager.io/cluster-issuer": "hatches-issuer"},
    }
    assert _values(hatches)["grafana"]["grafana.ini"]["server"]["root_url"] == "https://grafana.hatches.invalid"


def test_grafana_under_a_path_serves_from_it():
    run = _run(HATCHES, "hatches", grafanaUrl="https://ops.hatches.invalid/grafana", grafanaIngressTlsSecret=None)
    grafana = _values(run)["grafana"]
    assert grafana["ingress"]["hosts"] == ["ops.hatches.invalid"] and grafana["ingress"]["path"] == "/grafana"
    assert "tls" not in grafana["ingress"]
    assert grafana["grafana.ini"]["server"] == {"root_url": "https://ops.hatches.invalid/grafana", "serve_from_sub_path": True}


def test_grafana_ingress_settings_are_checked():
    problems = _problems({"grafanaIngressClassName": "nginx"})
    assert len(problems) == 1 and "grafanaIngressEnabled is false" in problems[0]
    problem = "\n".join(_problems({"grafanaIngressEnabled": True, "grafanaUrl": "http://grafana.example.invalid", "grafanaIngressTlsSecret": "tls"}))
    assert f"Fix: pulumi config set {P}:grafanaUrl https://grafana.example.invalid" in problem


# ---- Trino namespaces ----------------------------------------------------------------------


def test_trino_monitors_and_workload_rules_select_every_namespace(hatches):
    monitors = [r for r in hatches.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor") if r.name.startswith("trino-")]
    assert len(monitors) == 2 and all(m.inputs["spec"]["namespaceSelector"]["matchNames"] == ["trino", "analytics"] for m in monitors)
    rules = json.dumps(hatches.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "dataops-platform").inputs["spec"])
    assert 'namespace=~\\"spark.*|data-processing|airflow.*|trino.*|analytics\\"' in rules
    assert 'namespace=~\\"spark.*|data-processing|airflow.*|trino.*\\"' not in rules  # every workload selector was widened


def test_the_single_trino_namespace_still_works_and_both_together_are_refused():
    assert load({"trinoNamespace": "olap"}).trino.namespaces == ("olap",)
    assert load({}).trino.namespaces == ("trino",)
    problem = "\n".join(_problems({"trinoNamespace": "olap", "trinoNamespaces": ["trino", "adhoc"]}))
    assert f"Fix: pulumi config rm {P}:trinoNamespace" in problem
