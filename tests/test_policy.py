"""The CrossGuard policy pack (policy/) on both stacks, without the Pulumi CLI.

Each stack is rendered exactly as `make render` does (tools.render under the mock engine).
Every registration becomes the pulumi_policy.ResourceValidationArgs the engine would give a
policy (type, inputs with secret leaves as pulumi_policy.Secret and the SDK's
unknown-checking proxy, URN, name, resource options, the policy's default config), and
each policy's validate function is called with a collecting report_violation.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import inspect
import secrets
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "policy"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pulumi_policy  # noqa: E402
from google.protobuf import json_format, struct_pb2  # noqa: E402
from pulumi.runtime.proto import analyzer_pb2  # noqa: E402
from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy  # noqa: E402

import dataops_policy  # noqa: E402
from dataops_policy import credentials, kubernetes, rule_labels, secret_markers  # noqa: E402
from dataops_policy.policies import DEFAULT_APPROVED_REGISTRIES  # noqa: E402
from tools import mock_engine, render  # noqa: E402

STACKS = ("staging", "prod")
POLICIES = {p.name: p for p in dataops_policy.POLICIES}
MANDATORY = dataops_policy.MANDATORY_POLICIES
ADVISORY = dataops_policy.ADVISORY_POLICIES


def random_value(label: str) -> str:
    """Credential stand-ins are random per run: no credential-looking literal in the repository."""
    return f"test-{label}-{secrets.token_hex(8)}"


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


# --------------------------------------------------------------------------------------
# Harness: rendered registrations -> ResourceValidationArgs -> violations
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    parent: str
    inputs: dict  # as the mock engine recorded them: secret leaves are tools.mock_engine.Secret
    protect: Optional[bool]  # None: the run could not observe it
    additional_secret_outputs: tuple = ()

    def broken(self, edit: Callable[[dict], Any], **changes) -> "Resource":
        """A deep copy with ``edit`` applied to its inputs (and any field changes)."""
        inputs = copy.deepcopy(self.inputs)
        edit(inputs)
        return replace(self, inputs=inputs, **changes)


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str  # "<type>::<name>"
    message: str


def to_policy_value(value: Any) -> Any:
    """mock_engine.Secret -> pulumi_policy.Secret: the secret/plain distinction a policy sees."""
    if isinstance(value, mock_engine.Secret):
        return pulumi_policy.Secret(to_policy_value(value.value))
    if isinstance(value, dict):
        return {k: to_policy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_policy_value(v) for v in value]
    return value


def validation_args(resource: Resource, policy: ResourceValidationPolicy, config: Optional[dict] = None) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(
        protect=bool(resource.protect),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=list(resource.additional_secret_outputs),
        parent=resource.parent or None,
    )
    props = unknown_checking_proxy(to_policy_value(resource.inputs))  # what the SDK's Analyze hands a policy
    return ResourceValidationArgs(
        resource.type,
        props,
        resource.urn,
        resource.name,
        opts,
        None,
        config if config is not None else dataops_policy.config_defaults(policy),
        {},
    )


def evaluate(resource: Resource, policies=None, config: Optional[dict[str, dict]] = None) -> list[Violation]:
    found: list[Violation] = []
    for policy in policies or dataops_policy.POLICIES:
        label = f"{resource.type}::{resource.name}"

        def report_violation(message: str, urn: Optional[str] = None, _policy=policy.name, _label=label) -> None:
            found.append(Violation(_policy, _label, message))

        args = validation_args(resource, policy, (config or {}).get(policy.name))
        try:
            result = policy.validate(args, report_violation)
            if inspect.isawaitable(result):
                asyncio.run(result)
        except UnknownValueError as err:  # the CLI turns this into an advisory "can't run during preview"
            found.append(Violation(policy.name, label, f"unknown during preview: {err.message}"))
    return found


@dataclass
class RenderedStack:
    name: str
    resources: list[Resource]
    violations: list[Violation] = field(default_factory=list)

    def one(self, type_token: str, name: str) -> Resource:
        found = [r for r in self.resources if r.type == type_token and r.name == name]
        assert len(found) == 1, f"expected one {type_token} {name}, have {[r.name for r in self.resources if r.type == type_token]}"
        return found[0]

    def by_policy(self, policy: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == policy]


def render_stack(stack: str, out_dir: Path) -> RenderedStack:
    _, run = render.render(stack, out_dir)  # the mock engine records protect per registration
    resources = [
        Resource(
            type=reg.type,
            name=reg.name,
            urn=reg.urn,
            parent=reg.parent,
            inputs=reg.inputs,
            protect=reg.protect,
            additional_secret_outputs=tuple(reg.additional_secret_outputs),
        )
        for reg in run.registrations
    ]
    rendered = RenderedStack(stack, resources)
    for resource in resources:
        rendered.violations.extend(evaluate(resource))
    return rendered


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, RenderedStack]:
    return {stack: render_stack(stack, tmp_path_factory.mktemp(f"render-{stack}")) for stack in STACKS}


def violating(rendered: RenderedStack, policy: str) -> set[str]:
    return {v.resource for v in rendered.by_policy(policy)}


def policies_reporting(violations: list[Violation]) -> set[str]:
    return {v.policy for v in violations}


# --------------------------------------------------------------------------------------
# What today's components violate. Each entry is a finding for the component's owner; the
# xfail is strict, so the test fails (XPASS) the day it is fixed and the entry must go.
# --------------------------------------------------------------------------------------

KNOWN_VIOLATIONS: dict[tuple[str, str], set[str]] = {
    # None today. The exporters' pods (airflow-statsd-exporter, iceberg-exporter,
    # blackbox-exporter) run under RuntimeDefault since core.k8s.deployment_with_service sets it;
    # test_exporter_pods_run_under_runtime_default below asserts they pass.
}


def _mandatory_cases():
    for stack in STACKS:
        for policy in MANDATORY:
            known = KNOWN_VIOLATIONS.get((stack, policy))
            marks = []
            if known:
                marks.append(pytest.mark.xfail(strict=True, reason=f"{policy} today in {stack}: {', '.join(sorted(known))}"))
            yield pytest.param(stack, policy, id=f"{stack}-{policy}", marks=marks)


@pytest.mark.parametrize("stack, policy", list(_mandatory_cases()))
def test_stack_passes_mandatory_policy(stacks, stack, policy):
    found = stacks[stack].by_policy(policy)
    assert not found, "\n".join(f"{v.resource}: {v.message}" for v in found)


@pytest.mark.parametrize("stack", STACKS)
def test_known_violations_are_exactly_the_listed_ones(stacks, stack):
    """The xfails above hide nothing else: no other resource, no other mandatory policy."""
    actual = {policy: violating(stacks[stack], policy) for policy in MANDATORY}
    expected = {policy: KNOWN_VIOLATIONS.get((stack, policy), set()) for policy in MANDATORY}
    assert {p: r for p, r in actual.items() if r} == {p: r for p, r in expected.items() if r}


@pytest.mark.parametrize("stack", STACKS)
def test_no_policy_hits_an_unknown_value(stacks, stack):
    assert not [v for v in stacks[stack].violations if v.message.startswith("unknown during preview")]


# The registries our own stacks pull from (docs/policy.md's example policy config): the policy
# has no default list, so the test hands it the one a team would set.
OUR_REGISTRIES = {"approved-image-registries": {"approvedRegistries": [
    "registry.dataops.internal/dataops", "quay.io/prometheus", "quay.io/thanos", "docker.io/prom"]}}


@pytest.mark.parametrize("stack", STACKS)
def test_images_come_from_approved_registries(stacks, stack):
    policy = [POLICIES["approved-image-registries"]]
    workloads = [r for r in stacks[stack].resources if evaluate(r, policy, {"approved-image-registries": {"approvedRegistries": ["nowhere.example"]}})]
    assert workloads, "nothing pulls an image: the check below would prove nothing"
    assert [v.message for r in workloads for v in evaluate(r, policy, OUR_REGISTRIES)] == []


def test_no_registry_is_approved_by_default(stacks):
    """No default list (a default approved namespaces the team did not own): nothing is flagged
    until a team names its registries."""
    statsd = stacks["prod"].one(DEPLOYMENT, "airflow-statsd-exporter")
    policy = [POLICIES["approved-image-registries"]]
    assert DEFAULT_APPROVED_REGISTRIES == ()
    assert evaluate(statsd, policy, {}) == []
    assert evaluate(statsd, policy, {"approved-image-registries": {"approvedRegistries": ["quay.io"]}})


def test_protect_is_observed(stacks):
    """The harness really sees ``protect`` (the recording monitor's raw request), else the next test proves nothing."""
    assert all(r.protect is not None for r in stacks["prod"].resources)


def test_staging_needs_no_protection(stacks):
    assert not stacks["staging"].by_policy("prod-protects-stateful-resources")


PROD_STATEFUL = {
    "kubernetes:core/v1:Namespace::monitoring-namespace",
    "kubernetes:helm.sh/v3:Release::kube-prometheus-stack",
    "kubernetes:apps/v1:StatefulSet::thanos-compact",
    "kubernetes:apps/v1:StatefulSet::thanos-store",
}


def test_prod_stateful_resources_are_exactly_these(stacks):
    prod = stacks["prod"]
    stateful = {
        f"{r.type}::{r.name}"
        for r in prod.resources
        if not evaluate(replace(r, protect=False), [POLICIES["prod-protects-stateful-resources"]]) == []
    }
    assert stateful == PROD_STATEFUL


def test_prod_protects_its_stateful_resources(stacks):
    found = stacks["prod"].by_policy("prod-protects-stateful-resources")
    assert not found, "\n".join(f"{v.resource}: {v.message}" for v in found)


# --------------------------------------------------------------------------------------
# Broken copies of real resources: exactly the policy concerned reports, no other.
# --------------------------------------------------------------------------------------


def _container(inputs: dict, index: int = 0) -> dict:
    return inputs["spec"]["template"]["spec"]["containers"][index]


def _pod(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]


def _first_alert(inputs: dict) -> dict:
    return next(rule for group in inputs["spec"]["groups"] for rule in group["rules"] if "alert" in rule)


def _unwrap(inputs: dict, key: str) -> None:
    value = inputs[key]
    if isinstance(value, mock_engine.Secret):
        value = value.value
    inputs[key] = {k: (v.value if isinstance(v, mock_engine.Secret) else v) for k, v in value.items()}


def _set_env(inputs: dict, name: str, value: str) -> None:
    _container(inputs).setdefault("env", []).append({"name": name, "value": value})


def _append_to_config_file(inputs: dict, key: str, line: str) -> None:
    inputs["data"][key] = inputs["data"][key] + line


def _del(mapping: dict, *path: str) -> None:
    for key in path[:-1]:
        mapping = mapping[key]
    del mapping[path[-1]]


def _set(mapping: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        mapping = mapping.setdefault(key, {})
    mapping[path[-1]] = value


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
VALUES_THANOS_IMAGE = ("values", "prometheus", "prometheusSpec", "thanos", "image")

# (policy, stack, type, name, edit, id). Bases are resources that pass every policy today.
BREAKS = [
    ("no-plaintext-credentials", "prod", SECRET, "trino-metrics-auth", lambda i: _unwrap(i, "stringData"), "secret-stringData-plain"),
    ("no-plaintext-credentials", "prod", SECRET, "grafana-admin", lambda i: _unwrap(i, "stringData"), "generated-password-plain"),
    ("no-plaintext-credentials", "prod", SECRET, "thanos-objstore",
     lambda i: i.update(data={"objstore.yml": mock_engine.Secret(b64(random_value("data"))), "extra": b64(random_value("data"))}),
     "secret-data-key-plain"),
    ("no-plaintext-credentials", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _set_env(i, "OBJSTORE_SECRET_KEY", random_value("env")), "env-var-plain"),
    ("no-plaintext-credentials", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _container(i)["args"].append(f"--objstore.password={random_value('arg')}"), "arg-plain"),
    ("no-plaintext-credentials", "prod", RELEASE, "kube-prometheus-stack",
     lambda i: _set(i, ("values", "grafana", "adminPassword"), random_value("helm")), "helm-value-plain"),
    ("no-plaintext-credentials", "prod", RELEASE, "kube-prometheus-stack",
     lambda i: _set(i, ("values", "alertmanager", "config", "global", "slack_api_url"),
                    "https://hooks.slack.com/services/" + random_value("hook")), "helm-webhook-url"),
    ("no-plaintext-credentials", "prod", CONFIGMAP, "blackbox-exporter-config",
     lambda i: _append_to_config_file(i, "blackbox.yml", f"bearer_token: {random_value('cm')}\n"), "configmap-file-plain"),
    ("no-plaintext-credentials", "prod", CONFIGMAP, "airflow-statsd-mapping",
     lambda i: i["data"].update(api_token=random_value("cm")), "configmap-key-plain"),
    ("images-pinned", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _container(i).update(image="quay.io/thanos/thanos:latest"), "latest"),
    ("images-pinned", "prod", STATEFULSET, "thanos-store",
     lambda i: _container(i).update(image="quay.io/thanos/thanos"), "untagged"),
    ("images-pinned", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _container(i).update(image="quay.io/thanos/thanos:main"), "floating-tag"),
    ("images-pinned", "prod", RELEASE, "kube-prometheus-stack",
     lambda i: _set(i, VALUES_THANOS_IMAGE, "quay.io/thanos/thanos:latest"), "helm-image-latest"),
    ("images-pinned", "prod", RELEASE, "kube-prometheus-stack",
     lambda i: _set(i, ("values", "grafana", "image"), {"repository": "quay.io/prometheus/prometheus", "tag": ""}), "helm-image-map-untagged"),
    ("container-resources", "prod", STATEFULSET, "thanos-store",
     lambda i: _del(_container(i), "resources", "limits", "memory"), "no-memory-limit"),
    ("container-resources", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _del(_container(i), "resources", "requests"), "no-requests"),
    ("pods-run-as-non-root", "prod", DEPLOYMENT, "thanos-query",
     lambda i: (_del(_pod(i), "securityContext", "runAsNonRoot"), _del(_container(i), "securityContext", "runAsNonRoot")), "unset"),
    ("pods-run-as-non-root", "prod", STATEFULSET, "thanos-store",
     lambda i: _container(i)["securityContext"].update(runAsNonRoot=False), "container-overrides-pod"),
    ("containers-read-only-root-filesystem", "prod", STATEFULSET, "thanos-store",
     lambda i: _container(i)["securityContext"].update(readOnlyRootFilesystem=False), "writable"),
    ("containers-no-privilege-escalation", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _container(i)["securityContext"].update(allowPrivilegeEscalation=True), "allowed"),
    ("containers-no-privilege-escalation", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _del(_container(i), "securityContext", "allowPrivilegeEscalation"), "unset"),
    ("pods-seccomp-runtime-default", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _del(_pod(i), "securityContext", "seccompProfile"), "unset"),
    ("pods-seccomp-runtime-default", "prod", STATEFULSET, "thanos-compact",
     lambda i: _container(i)["securityContext"].update(seccompProfile={"type": "Unconfined"}), "container-unconfined"),
    ("helm-chart-version-exact", "prod", RELEASE, "kube-prometheus-stack", lambda i: i.update(version="^88.5.0"), "caret-range"),
    ("helm-chart-version-exact", "staging", RELEASE, "kube-prometheus-stack", lambda i: i.pop("version"), "empty"),
    ("helm-chart-version-exact", "prod", RELEASE, "kube-prometheus-stack", lambda i: i.update(version="88.5"), "partial"),
    ("prometheus-rules-selected", "prod", RULE, "dataops-portal",
     lambda i: i["metadata"]["labels"].pop(next(iter(rule_labels.rule_selector_labels()))), "label-missing"),
    ("prometheus-rules-selected", "staging", RULE, "dataops-thanos",
     lambda i: i["metadata"]["labels"].update({k: "false" for k in rule_labels.rule_selector_labels()}), "label-wrong"),
    ("alert-rules-complete", "prod", RULE, "dataops-portal", lambda i: _first_alert(i)["annotations"].pop("runbook_url"), "no-runbook"),
    ("alert-rules-complete", "prod", RULE, "dataops-thanos", lambda i: _first_alert(i)["labels"].pop("severity"), "no-severity"),
    ("alert-rules-complete", "staging", RULE, "dataops-thanos", lambda i: _first_alert(i)["annotations"].update(summary=" "), "blank-summary"),
    ("approved-image-registries", "prod", DEPLOYMENT, "thanos-query",
     lambda i: _container(i).update(image="registry.example.com/thanos/thanos:v0.42.4"), "other-registry"),
    ("approved-image-registries", "prod", RELEASE, "kube-prometheus-stack",
     lambda i: _set(i, VALUES_THANOS_IMAGE, "ghcr.io/thanos-io/thanos:v0.42.4"), "helm-other-registry"),
]


@pytest.mark.parametrize("policy, stack, type_token, name, edit", [pytest.param(*b[:5], id=f"{b[0]}-{b[5]}") for b in BREAKS])
def test_broken_copy_trips_exactly_its_policy(stacks, policy, stack, type_token, name, edit):
    # Compliant base: the real rendered resource, protected (so prod's advisory stays quiet).
    base = replace(stacks[stack].one(type_token, name), protect=True)
    # OUR_REGISTRIES: approved-image-registries checks nothing without a configured list.
    assert evaluate(base, config=OUR_REGISTRIES) == [], "the base of a broken copy must pass every policy"
    found = evaluate(base.broken(edit), config=OUR_REGISTRIES)
    assert policies_reporting(found) == {policy}, found


def test_unprotected_prod_statefulset_trips_only_the_protect_policy(stacks):
    base = replace(stacks["prod"].one(STATEFULSET, "thanos-store"), protect=True)
    assert evaluate(base) == []
    found = evaluate(replace(base, protect=False))
    assert policies_reporting(found) == {"prod-protects-stateful-resources"}
    assert evaluate(replace(stacks["staging"].one(STATEFULSET, "thanos-store"), protect=False)) == []


def test_every_policy_has_a_broken_copy():
    covered = {b[0] for b in BREAKS} | {"prod-protects-stateful-resources"}
    assert covered == set(POLICIES)


def test_every_known_violation_is_the_policy_reporting_it(stacks):
    """What the known violations report is the missing seccomp profile and nothing else."""
    for (stack, policy), resources in KNOWN_VIOLATIONS.items():
        for violation in stacks[stack].by_policy(policy):
            assert violation.resource in resources
            assert "seccomp profile none" in violation.message


EXPORTERS = {"staging": ("airflow-statsd-exporter", "iceberg-exporter"), "prod": ("airflow-statsd-exporter", "blackbox-exporter", "iceberg-exporter")}


@pytest.mark.parametrize("stack", STACKS)
def test_exporter_pods_run_under_runtime_default(stacks, stack):
    """The three exporters that were known violations pass the seccomp policy and mount no token."""
    for name in EXPORTERS[stack]:
        deployment = stacks[stack].one(DEPLOYMENT, name)
        assert evaluate(replace(deployment, protect=True), [POLICIES["pods-seccomp-runtime-default"]]) == [], name
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name


@pytest.mark.parametrize("stack", STACKS)
def test_no_pod_we_define_mounts_a_service_account_token(stacks, stack):
    """Our exporters and Thanos never call the Kubernetes API: no token in any pod we define."""
    workloads = [r for r in stacks[stack].resources if r.type in (DEPLOYMENT, STATEFULSET)]
    assert len(workloads) >= 5
    for workload in workloads:
        pod = workload.inputs["spec"]["template"]["spec"]
        assert pod.get("automountServiceAccountToken") is False, workload.name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, workload.name


def test_chart_pods_run_under_runtime_default_and_grafana_reads_one_namespace(stacks):
    values = stacks["prod"].one(RELEASE, "kube-prometheus-stack").inputs["values"]
    for path in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec"), ("grafana",)):
        spec = values
        for key in path:
            spec = spec[key]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, path
    assert values["alertmanager"]["alertmanagerSpec"]["automountServiceAccountToken"] is False
    # Prometheus (service discovery) and Grafana (dashboard sidecar) keep their tokens; the
    # sidecar reads the monitoring namespace only, through a Role.
    assert "automountServiceAccountToken" not in values["prometheus"]["prometheusSpec"]
    assert values["grafana"]["sidecar"]["dashboards"]["searchNamespace"] == "monitoring"
    assert values["grafana"]["rbac"]["namespaced"] is True


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
FROM_PROMETHEUS = [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring"]}]},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
DNS = {"to": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
       "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def test_each_exporter_has_a_network_policy_for_prometheus_and_its_targets(stacks):
    prod = stacks["prod"]
    assert {r.name for r in prod.resources if r.type == NETWORK_POLICY} >= set(EXPORTERS["prod"])
    specs = {name: prod.one(NETWORK_POLICY, name).inputs["spec"] for name in EXPORTERS["prod"]}
    for name, spec in specs.items():
        assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert spec["ingress"][0]["from"] == FROM_PROMETHEUS, name
    assert specs["airflow-statsd-exporter"]["ingress"] == [
        {"from": FROM_PROMETHEUS, "ports": [{"port": 9102, "protocol": "TCP"}]},
        {"from": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["airflow"]}]}}],
         "ports": [{"port": 9125, "protocol": "UDP"}, {"port": 9125, "protocol": "TCP"}]},
    ]
    assert specs["airflow-statsd-exporter"]["egress"] == []  # it only listens
    assert specs["iceberg-exporter"]["ingress"][0]["ports"] == [{"port": 9123, "protocol": "TCP"}]
    # Hive Metastore thrift://...:9083 and AWS S3 (no icebergS3Endpoint) on 443.
    assert specs["iceberg-exporter"]["egress"] == [DNS, {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 9083, "protocol": "TCP"}]}]
    assert specs["blackbox-exporter"]["ingress"][0]["ports"] == [{"port": 9115, "protocol": "TCP"}]
    assert specs["blackbox-exporter"]["egress"][0] == DNS
    assert {"port": 443, "protocol": "TCP"} in specs["blackbox-exporter"]["egress"][1]["ports"]  # https://portal.dataops.internal/healthz


# --------------------------------------------------------------------------------------
# Configuration (how an advisory policy is tuned or waived)
# --------------------------------------------------------------------------------------


def test_approved_registries_is_configurable(stacks):
    query = replace(stacks["prod"].one(DEPLOYMENT, "thanos-query"), protect=True)
    statsd = stacks["prod"].one(DEPLOYMENT, "airflow-statsd-exporter")
    only_quay = {"approved-image-registries": {"approvedRegistries": ["quay.io"]}}
    policy = [POLICIES["approved-image-registries"]]
    assert evaluate(query, policy, only_quay) == []
    assert [v.message for v in evaluate(statsd, policy, only_quay)] == [
        "container statsd-exporter (spec.template.spec.containers[0].image) pulls docker.io/prom/statsd-exporter, "
        "which is not under an approved registry (quay.io)"
    ]


def test_protected_stacks_is_configurable(stacks):
    store = stacks["prod"].one(STATEFULSET, "thanos-store")
    policy = [POLICIES["prod-protects-stateful-resources"]]
    assert evaluate(store, policy, {"prod-protects-stateful-resources": {"protectedStacks": []}}) == []
    staging_store = stacks["staging"].one(STATEFULSET, "thanos-store")
    assert evaluate(staging_store, policy, {"prod-protects-stateful-resources": {"protectedStacks": ["staging"]}})


def test_pack_is_made_of_the_sdk_types():
    names = [p.name for p in dataops_policy.POLICIES]
    assert len(names) == len(set(names))
    assert all(isinstance(p, ResourceValidationPolicy) for p in dataops_policy.POLICIES)
    assert {p.name for p in dataops_policy.POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY} == set(MANDATORY)
    assert set(ADVISORY) == {"prod-protects-stateful-resources", "approved-image-registries"}
    assert dataops_policy.config_defaults(POLICIES["approved-image-registries"]) == {
        "approvedRegistries": list(DEFAULT_APPROVED_REGISTRIES)
    }
    assert dataops_policy.config_defaults(POLICIES["prod-protects-stateful-resources"]) == {"protectedStacks": ["prod"]}


def test_docs_name_every_policy():
    text = (ROOT / "docs" / "policy.md").read_text()
    for name in POLICIES:
        assert f"`{name}`" in text, name


# --------------------------------------------------------------------------------------
# The real SDK path the CLI takes (Analyze), secret markers included
# --------------------------------------------------------------------------------------


def _to_wire(value: Any) -> Any:
    if isinstance(value, mock_engine.Secret):
        from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

        return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": _to_wire(value.value)}
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    return value


def _analyze(resource: Resource) -> list[tuple[str, int]]:
    """Run the SDK's own Analyze (what `pulumi preview --policy-pack policy` calls) on one resource."""
    servicer = pulumi_policy.policy._PolicyAnalyzerServicer(  # pylint: disable=protected-access
        dataops_policy.PACK_NAME, "0.1.0", dataops_policy.POLICIES, EnforcementLevel.MANDATORY
    )
    properties = struct_pb2.Struct()
    json_format.ParseDict(_to_wire(resource.inputs), properties)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type, properties=properties, urn=resource.urn, name=resource.name,
        options=analyzer_pb2.AnalyzerResourceOptions(protect=bool(resource.protect), parent=resource.parent),
    )
    response = servicer.Analyze(request, None)
    return [(d.policyName, d.enforcementLevel) for d in response.diagnostics]


def test_cli_path_keeps_secret_markers(stacks):
    grafana_admin = replace(stacks["prod"].one(SECRET, "grafana-admin"), protect=True)
    was_installed = secret_markers.installed()
    original = secret_markers._SDK_DESERIALIZE  # pylint: disable=protected-access
    try:
        pulumi_policy.policy.deserialize_properties = original
        # The SDK alone drops the markers: a real Secret would look like plain text.
        assert ("no-plaintext-credentials", analyzer_pb2.MANDATORY) in _analyze(grafana_admin)
        secret_markers.install()
        assert _analyze(grafana_admin) == []
        broken = grafana_admin.broken(lambda i: _unwrap(i, "stringData"))
        assert set(_analyze(broken)) == {("no-plaintext-credentials", analyzer_pb2.MANDATORY)}
    finally:
        pulumi_policy.policy.deserialize_properties = (
            secret_markers.deserialize_keeping_secrets if was_installed else original
        )


def test_cli_path_reports_advisory_and_mandatory_levels(stacks):
    secret_markers.install()
    store = stacks["prod"].one(STATEFULSET, "thanos-store")
    assert _analyze(replace(store, protect=False)) == [("prod-protects-stateful-resources", analyzer_pb2.ADVISORY)]
    query = replace(stacks["prod"].one(DEPLOYMENT, "thanos-query"), protect=True)
    assert _analyze(query) == []
    no_seccomp = query.broken(lambda i: _del(_pod(i), "securityContext", "seccompProfile"))
    assert _analyze(no_seccomp) == [("pods-seccomp-runtime-default", analyzer_pb2.MANDATORY)]


def test_pack_process_serves_the_policies_with_secret_markers(stacks):
    """policy/__main__.py as the CLI starts it: a gRPC analyzer on 127.0.0.1 (port on stdout)."""
    import subprocess

    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    proc = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=ROOT / "policy", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
            assert info.name == dataops_policy.PACK_NAME
            assert {p.name: p.enforcementLevel for p in info.policies} == {
                **{name: analyzer_pb2.MANDATORY for name in MANDATORY},
                **{name: analyzer_pb2.ADVISORY for name in ADVISORY},
            }
            grafana_admin = stacks["prod"].one(SECRET, "grafana-admin")
            properties = struct_pb2.Struct()
            json_format.ParseDict(_to_wire(grafana_admin.inputs), properties)
            request = analyzer_pb2.AnalyzeRequest(
                type=grafana_admin.type, properties=properties, urn=grafana_admin.urn, name=grafana_admin.name
            )
            assert list(stub.Analyze(request, timeout=20).diagnostics) == []
    finally:
        proc.kill()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()


def test_pack_project_uses_the_project_virtualenv():
    import yaml

    project = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (ROOT / "policy" / project["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()
    assert "policy/requirements.txt" in (ROOT / "Makefile").read_text().split("REQUIREMENTS :=", 1)[1].splitlines()[0]


# --------------------------------------------------------------------------------------
# The pieces: rule selector label from the program, credential keys, image references
# --------------------------------------------------------------------------------------


def test_rule_selector_label_is_read_from_the_program():
    import importlib

    where = rule_labels.defined_in()
    assert where, "RULE_SELECTOR_LABELS not found in the program"
    for path in where:
        module = importlib.import_module(".".join(Path(path).with_suffix("").parts))
        assert rule_labels.rule_selector_labels() == module.RULE_SELECTOR_LABELS


@pytest.mark.parametrize(
    "key",
    ["password", "adminPassword", "api_token", "bearer_token", "secretKey", "secret_key", "ICEBERG_S3_SECRET_ACCESS_KEY",
     "AWS_ACCESS_KEY_ID", "routing_key", "slackWebhookUrl", "clientSecret", "apiKey", "credentials", "objstore.password"],
)
def test_credential_keys(key):
    assert credentials.is_credential_key(key)


@pytest.mark.parametrize(
    "key",
    ["passwordKey", "userKey", "existingSecret", "useExistingSecret", "configSecret", "secretName", "secretKeyRef",
     "bearerTokenFile", "routing_key_file", "api_url_file", "key", "name", "secret.reloader.stakater.com/reload",
     "tokenPath", "secrets", "username", "admin-user", "labelKey"],
)
def test_reference_and_ordinary_keys(key):
    assert not credentials.is_credential_key(key)


@pytest.mark.parametrize(
    "image, problem",
    [
        ("quay.io/thanos/thanos:v0.42.4", None),
        ("prom/statsd-exporter:v0.28.0", None),
        ("localhost:5000/x:1.0", None),
        ("quay.io/thanos/thanos@sha256:" + "a" * 64, None),
        # Jenkins tags the exporter image with the commit SHA, which may start with a letter.
        ("registry.dataops.internal/dataops/iceberg-exporter:a0b1c2d3e4f5061728394a5b6c7d8e9f00112233", None),
        ("quay.io/thanos/thanos:latest", "uses the floating tag 'latest'"),
        ("quay.io/thanos/thanos", "has no tag (it would pull whatever 'latest' is)"),
        ("localhost:5000/x", "has no tag (it would pull whatever 'latest' is)"),
        ("busybox:stable", "uses the tag 'stable', which is not a version (a version tag has a number, e.g. v0.42.4)"),
        ("quay.io/thanos/thanos@sha256:abc", "digest 'sha256:abc' is not sha256:<64 hex>"),
    ],
)
def test_image_references(image, problem):
    assert kubernetes.image_problem(image) == problem


@pytest.mark.parametrize(
    "image, registry, name",
    [
        ("prom/statsd-exporter:v0.28.0", "docker.io", "docker.io/prom/statsd-exporter"),
        ("busybox:1.36", "docker.io", "docker.io/busybox"),
        ("index.docker.io/dataops/iceberg-exporter:0.1.0", "docker.io", "docker.io/dataops/iceberg-exporter"),
        ("quay.io/thanos/thanos:v0.42.4", "quay.io", "quay.io/thanos/thanos"),
        ("localhost:5000/x:1.0", "localhost:5000", "localhost:5000/x"),
    ],
)
def test_image_registries(image, registry, name):
    ref = kubernetes.parse_image(image)
    assert (ref.registry, ref.name) == (registry, name)


# The repository's own stack files are user data: the tests above read their samples
# (tests/stacks/samples); what each real file must do is render and pass the pack.
@pytest.mark.parametrize("stack_file", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_stack_file_present_passes_the_mandatory_policies(stack_file, tmp_path):
    stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
    _, run = render.render(stack, tmp_path, stack_file)
    mandatory = [p for p in dataops_policy.POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY]
    resources = [Resource(type=r.type, name=r.name, urn=r.urn, parent=r.parent, inputs=r.inputs, protect=r.protect,
                          additional_secret_outputs=tuple(r.additional_secret_outputs)) for r in run.registrations]
    assert len(resources) > 20
    assert [v for r in resources for v in evaluate(r, mandatory)] == []
