"""What a first `pulumi up` on a real cluster needs: an explicit provider, existing
namespaces, protection in prod, Helm settings that survive a slow volume, a dev stack without a
stack file, fix hints the CLI accepts, and the engine's auto-naming."""

from __future__ import annotations

import re
import shlex

import pytest

from core.settings import fix_command
from settings import SETTINGS_SCHEMA, SettingsError
from tests.conftest import PROJECT, with_secrets

STAGING_SECRETS = ("thanosAccessKey", "thanosSecretKey")
PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def _kubernetes_resources(run):
    return [r for r in run.registrations if r.type.startswith("kubernetes:") and r.custom]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_kubernetes_resource_uses_the_stacks_explicit_provider(sample_run, stack):
    run = sample_run(stack)
    providers = run.by_type(PROVIDER)
    assert [p.name for p in providers] == ["kubernetes"]
    provider = providers[0]
    assert provider.inputs["context"] == f"dataops-{stack}"
    assert provider.inputs["enableServerSideApply"] == "true" or provider.inputs["enableServerSideApply"] is True
    # ConfigMaps and Secrets change in place, never delete-then-create (a rotation must not
    # leave Alertmanager or Grafana without their Secret).
    for option in ("enableConfigMapMutable", "enableSecretMutable"):
        assert provider.inputs[option] in ("true", True), option
    resources = _kubernetes_resources(run)
    assert len(resources) > 40
    strays = [f"{r.type}::{r.name}" for r in resources if not r.provider.startswith(provider.urn + "::")]
    assert not strays, f"on the agent's default provider: {strays}"


def test_prod_must_name_its_cluster(run_stack):
    with pytest.raises(SettingsError) as err:
        run_stack("prod", {**with_secrets(), f"{PROJECT}:kubeContext": None})
    assert f"{PROJECT}:kubeContext is not set" in str(err.value) and "pulumi config set dataops-monitoring:kubeContext" in str(err.value)


def test_a_kubeconfig_secret_replaces_the_context(run_stack):
    from tests.conftest import random_secret

    kubeconfig = random_secret("kubeconfig")
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:kubeContext": None, f"{PROJECT}:kubeconfig": kubeconfig})
    provider = run.one(PROVIDER, "kubernetes")
    assert provider.inputs["kubeconfig"] == kubeconfig  # a Secret leaf: never plain
    assert "context" not in provider.inputs


def test_existing_namespace_is_used_not_created(run_stack):
    run = run_stack("staging", {**with_secrets(STAGING_SECRETS), f"{PROJECT}:createNamespace": False, f"{PROJECT}:namespace": "observability"})
    assert run.by_type(NAMESPACE) == []
    releases = run.by_type(RELEASE)
    assert releases[0].inputs["namespace"] == "observability"
    monitors = run.by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert monitors and all(m.inputs["metadata"]["namespace"] == "observability" for m in monitors)


@pytest.mark.parametrize(
    ("stack", "override", "protected"),
    [("prod", None, True), ("staging", None, False), ("prod", False, False), ("staging", True, True)],
)
def test_prod_protects_the_namespace_release_and_volumes(run_stack, stack, override, protected):
    overrides = with_secrets() if stack == "prod" else with_secrets(STAGING_SECRETS)
    if override is not None:
        overrides[f"{PROJECT}:protectResources"] = override
    run = run_stack(stack, overrides)
    stateful = run.by_type(NAMESPACE) + run.by_type(RELEASE) + run.by_type(STATEFULSET)
    assert len(stateful) >= 3
    assert {f"{r.type}::{r.name}": r.protect for r in stateful} == {f"{r.type}::{r.name}": protected for r in stateful}
    others = [r for r in _kubernetes_resources(run) if r not in stateful]
    assert not any(r.protect for r in others)


def test_helm_release_survives_a_slow_volume_and_upgrades_its_crds(prod_run):
    release = prod_run.one(RELEASE, "kube-prometheus-stack")
    assert release.inputs["atomic"] is False and release.inputs["timeout"] == 600
    values = release.inputs["values"]
    assert values["grafana"]["deploymentStrategy"] == {"type": "Recreate"}
    assert values["crds"]["upgradeJob"]["enabled"] is True
    assert values["crds"]["upgradeJob"]["image"]["busybox"]["tag"] != "latest"


def test_outputs_an_operator_uses(prod_run):
    outputs = prod_run.stack_outputs
    assert outputs["grafanaUrl"] == "https://grafana.dataops.internal"
    assert outputs["kubeContext"] == "dataops-prod"
    assert set(outputs["portForward"]) == {"prometheus", "alertmanager", "grafana"}
    assert outputs["thanosQueryUrl"].startswith("http://thanos-query.monitoring.svc")


def test_dev_stack_renders_without_a_stack_file_and_small(run_stack, tmp_path):
    from tools.mock_engine import ROOT

    assert not (ROOT / "Pulumi.dev.yaml").exists()
    run = run_stack("dev", {f"{PROJECT}:kubeContext": "kind-trial"})
    values = run.one(RELEASE, "kube-prometheus-stack").inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == 1 and spec["retention"] == "2d"
    assert values["alertmanager"]["alertmanagerSpec"]["replicas"] == 1
    assert run.by_type("dataops:monitoring:Thanos") == [] and run.by_type("dataops:monitoring:IcebergExporter") == []
    assert run.stack_outputs["environment"] == "dev"


def test_make_render_dev_works_without_a_stack_file(tmp_path):
    from tools import render

    assert render.main(["dev", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "resources.json").exists()


def test_every_component_registers_its_outputs(prod_run):
    components = [r for r in prod_run.registrations if r.type.startswith("dataops:monitoring:")]
    assert len(components) >= 10
    missing = [r.name for r in components if r.urn not in prod_run.outputs_registered]
    assert not missing, f"components that never call register_outputs: {missing}"


def test_everything_referenced_by_name_is_named_explicitly(prod_run):
    """The provider auto-names objects without metadata.name (<name>-<suffix>): a Service,
    Secret or ConfigMap another object refers to by name would then not be found."""
    unnamed = [
        f"{r.type}::{r.name}"
        for r in _kubernetes_resources(prod_run)
        if r.type != RELEASE and not (r.inputs.get("metadata") or {}).get("name")
    ]
    assert not unnamed


def test_mock_engine_auto_names_like_the_provider():
    """Guards the test above: the mock gives an unnamed object a suffixed name, as `pulumi up` would."""
    from pulumi.runtime.mocks import MockResourceArgs

    from tools.mock_engine import ProgramMocks

    _, outputs = ProgramMocks(preview=True).new_resource(
        MockResourceArgs(typ="kubernetes:core/v1:ConfigMap", name="cfg", inputs={"metadata": {}}, provider="", resource_id="", custom=True)
    )
    assert re.fullmatch(r"cfg-[0-9a-f]{8}", outputs["metadata"]["name"])


# A --path names a list item (key[0]) or an object's leaf (key.a.b, key["a.b/c"]).
_CLI = re.compile(r"^pulumi config (set|rm)( --secret)?( --path)? '?dataops-monitoring:[A-Za-z0-9]+(\[\d+\]|(\.[A-Za-z0-9_-]+|\[\"[^\"]+\"\])+)?'?( \S.*)?$")


@pytest.mark.parametrize("setting", SETTINGS_SCHEMA, ids=lambda s: s.key)
def test_every_fix_hint_is_a_command_the_cli_accepts(setting):
    for command in fix_command(setting).split(" && "):
        assert _CLI.match(command), command
        words = shlex.split(command)  # quoting is balanced
        assert words[:3] == ["pulumi", "config", "set"]
        if setting.pulumi_type == "array":
            # `pulumi config set KEY '["a"]'` stores a string; items are set by path.
            assert "--path" in words and re.search(r"\[\d+\]$", words[-2]), command
        if setting.pulumi_type == "object" and not setting.example.startswith(("{", "[{")):
            # An object is set leaf by leaf: a --path below the key, never the object as a string.
            assert "--path" in words and re.search(r"dataops-monitoring:[A-Za-z0-9]+(\.|\[\")", words[-2]), command
        if setting.secret:
            assert "--secret" in words


def test_prod_names_the_exporter_image_it_pushed(run_stack, staging_run):
    with pytest.raises(SettingsError) as err:
        run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterImage": None})
    assert f"{PROJECT}:icebergExporterImage is not set" in str(err.value)
    assert f"pulumi config set {PROJECT}:icebergExporterImage <registry>/iceberg-exporter:<tag>" in str(err.value)
    # Off, or outside prod, the default stands.
    run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterImage": None, f"{PROJECT}:icebergExporterEnabled": False, f"{PROJECT}:sloFreshnessTables": None})
    assert staging_run.by_type("kubernetes:apps/v1:Deployment")  # the staging sample renders with its default image


def test_every_secret_we_write_comes_from_the_one_helper_labelled_secret_and_under_its_component(prod_run, staging_run):
    """core.k8s.credentials_secret writes every Kubernetes Secret: our labels, Opaque, the
    content secret, a child of the component that needs it, and no empty stringData."""
    from core.k8s import MANAGED_BY
    from tests.conftest import ROOT

    direct = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "components").rglob("*.py")) if "k8s.core.v1.Secret(" in p.read_text(encoding="utf-8")]
    assert direct == [], "a component writes a Kubernetes Secret itself instead of core.k8s.credentials_secret"
    for run in (prod_run, staging_run):
        components = {r.urn: r.type for r in run.registrations}
        secrets = run.by_type("kubernetes:core/v1:Secret")
        assert secrets
        for secret in secrets:
            labels = secret.inputs["metadata"]["labels"]
            assert MANAGED_BY.items() <= labels.items() and labels.get("app.kubernetes.io/name"), secret.name
            assert secret.inputs["type"] == "Opaque", secret.name
            assert components[secret.parent].startswith("dataops:monitoring:"), secret.name
            if "stringData" in secret.inputs:
                assert secret.secret_paths() == ["stringData"] and secret.inputs["stringData"].value, secret.name
