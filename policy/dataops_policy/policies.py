"""The dataops-monitoring policies: each a pulumi_policy.ResourceValidationPolicy.

Every ``validate_*`` function is a plain ``(ResourceValidationArgs, ReportViolation)``
callable: the CLI calls it through the policy pack, tests call it directly.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .credentials import plain_credentials
from .kubernetes import (
    PROMETHEUS_RULE_TYPE,
    SECRET_TYPE,
    Container,
    ImageRef,
    containers,
    image_problem,
    is_helm_release,
    kind_of,
    parse_image,
    pod_spec,
    values_images,
)
from .rule_labels import rule_selector_labels
from .values import elements, get, is_secret, items, known_elements, known_items, reveal, text

# --------------------------------------------------------------------------------------
# Mandatory
# --------------------------------------------------------------------------------------

SECRET_DATA_FIELDS = ("data", "stringData")


def validate_no_plaintext_credentials(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = args.props
    skip: set[str] = set()
    if args.resource_type == SECRET_TYPE:
        skip = set(SECRET_DATA_FIELDS)
        for field in SECRET_DATA_FIELDS:
            if field not in props or props[field] is None or is_secret(props[field]):
                continue
            for key, value in items(props[field]):
                if not is_secret(value):
                    report_violation(f"Secret {field}.{key} is not a Pulumi secret: pass it as a secret Output (pulumi.Output.secret / config secret)", None)
    for key, value in known_items(props):
        if key in skip:
            continue
        for finding in plain_credentials(value, key):
            report_violation(f"{finding.path} {finding.reason}: deliver it through a Kubernetes Secret", None)


def _workload_containers(args: ResourceValidationArgs) -> list[Container]:
    pod = pod_spec(args.resource_type, args.props)
    return list(containers(pod)) if pod is not None else []


def validate_images_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for container in _workload_containers(args):
        image = get(container.spec, "image")
        problem = image_problem(image)
        if problem:
            report_violation(f"container {container.name} ({container.path}.image = {image!r}) {problem}", None)
    if is_helm_release(args.resource_type):
        for found in values_images(get(args.props, "values")):
            if found.problem:
                report_violation(f"Helm value {found.path} {found.problem}", None)


_RESOURCE_FIELDS = tuple(f"{kind}.{name}" for kind in ("requests", "limits") for name in ("cpu", "memory"))


def validate_container_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for container in _workload_containers(args):
        missing = [
            field
            for field in _RESOURCE_FIELDS
            if str(get(container.spec, "resources", *field.split(".")) or "").strip() == ""
        ]
        if missing:
            report_violation(f"container {container.name} ({container.path}) has no resources.{', resources.'.join(missing)}", None)


def _pod_and_containers(args: ResourceValidationArgs):
    pod = pod_spec(args.resource_type, args.props)
    if pod is None:
        return None, []
    return pod, list(containers(pod))


def _effective(container: Container, pod: Any, *path: str) -> Any:
    """A securityContext field as Kubernetes applies it: the container's, else the pod's."""
    value = get(container.spec, "securityContext", *path)
    return value if value is not None else get(pod.spec, "securityContext", *path)


def validate_run_as_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pod, found = _pod_and_containers(args)
    for container in found:
        if _effective(container, pod, "runAsNonRoot") is not True:
            report_violation(f"container {container.name} ({container.path}) does not set runAsNonRoot: true (pod or container securityContext)", None)
        elif _effective(container, pod, "runAsUser") == 0:
            report_violation(f"container {container.name} ({container.path}) runs as user 0", None)


def validate_read_only_root_filesystem(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _, found = _pod_and_containers(args)
    for container in found:
        if get(container.spec, "securityContext", "readOnlyRootFilesystem") is not True:
            report_violation(f"container {container.name} ({container.path}) does not set securityContext.readOnlyRootFilesystem: true", None)


def validate_no_privilege_escalation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    _, found = _pod_and_containers(args)
    for container in found:
        if get(container.spec, "securityContext", "privileged") is True:
            report_violation(f"container {container.name} ({container.path}) is privileged", None)
        elif get(container.spec, "securityContext", "allowPrivilegeEscalation") is not False:
            report_violation(f"container {container.name} ({container.path}) does not set securityContext.allowPrivilegeEscalation: false", None)


def validate_seccomp_runtime_default(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    pod, found = _pod_and_containers(args)
    for container in found:
        profile = _effective(container, pod, "seccompProfile", "type")
        if profile != "RuntimeDefault":
            where = "none" if profile is None else repr(profile)
            report_violation(
                f"container {container.name} ({container.path}) has seccomp profile {where}: set seccompProfile.type: RuntimeDefault on the pod (or the container) securityContext",
                None,
            )


_EXACT_VERSION_RE = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def validate_helm_chart_version_exact(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_helm_release(args.resource_type):
        return
    chart = text(get(args.props, "chart")) or ""
    if chart.startswith((".", "/")):
        return  # a chart from this repository: versioned with it
    version = get(args.props, "version")
    version = "" if version is None else str(version).strip()
    if not version:
        report_violation(f"chart {chart!r} has no version: Helm would install whatever is newest", None)
    elif not _EXACT_VERSION_RE.match(version):
        report_violation(f"chart {chart!r} version {version!r} is not one exact version (x.y.z): ranges and partial versions float", None)


def _is_prometheus_rule(resource_type: str) -> bool:
    return resource_type == PROMETHEUS_RULE_TYPE or (
        resource_type.startswith("kubernetes:monitoring.coreos.com/") and kind_of(resource_type) == "PrometheusRule"
    )


def validate_prometheus_rule_selected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not _is_prometheus_rule(args.resource_type):
        return
    labels = get(args.props, "metadata", "labels")
    for key, expected in rule_selector_labels().items():
        actual = get(labels, key)
        if actual != expected:
            report_violation(
                f"metadata.labels[{key!r}] is {actual!r}, not {expected!r}: Prometheus selects rules by it, so these rules would never load",
                None,
            )


ALERT_REQUIRED_FIELDS = (("labels", "severity"), ("annotations", "summary"), ("annotations", "runbook_url"))


def validate_alert_rules_complete(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not _is_prometheus_rule(args.resource_type):
        return
    for g, group in enumerate(elements(get(args.props, "spec", "groups"))):
        group_name = text(get(group, "name")) or f"#{g}"
        for r, rule in enumerate(elements(get(group, "rules"))):
            alert = text(get(rule, "alert"))
            if alert is None:
                continue  # a recording rule
            missing = [".".join(field) for field in ALERT_REQUIRED_FIELDS if not (text(get(rule, *field)) or "").strip()]
            if missing:
                report_violation(f"alert {alert} (group {group_name}, spec.groups[{g}].rules[{r}]) has no {', '.join(missing)}", None)


# --------------------------------------------------------------------------------------
# Advisory
# --------------------------------------------------------------------------------------

DEFAULT_PROTECTED_STACKS = ("prod",)
STATEFUL_KINDS = frozenset({"Namespace", "StatefulSet", "PersistentVolumeClaim", "PersistentVolume"})
_CLAIM_TEMPLATE_KEYS = frozenset({"volumeClaimTemplate", "volumeClaimTemplates"})


def stack_of(urn: str) -> Optional[str]:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    head = urn.split("::", 1)[0]
    return head.rsplit(":", 1)[-1] if head.startswith("urn:pulumi:") else None


def _has_claim_templates(value: Any) -> bool:
    for key, child in known_items(value):
        if key in _CLAIM_TEMPLATE_KEYS or _has_claim_templates(child):
            return True
    return any(_has_claim_templates(child) for _, child in known_elements(value))


def is_stateful(resource_type: str, props: Any) -> bool:
    return kind_of(resource_type) in STATEFUL_KINDS or is_helm_release(resource_type) or _has_claim_templates(props)


def _config_list(args: ResourceValidationArgs, key: str, default: Iterable[str]) -> list[str]:
    value = (args.get_config() or {}).get(key)
    if value is None:
        return list(default)
    return [str(v) for v in reveal(value)]


def validate_prod_protects_stateful(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    stack = stack_of(args.urn)
    if stack not in _config_list(args, "protectedStacks", DEFAULT_PROTECTED_STACKS):
        return
    if not is_stateful(args.resource_type, args.props):
        return
    if not getattr(args.opts, "protect", False):
        report_violation(
            f"{kind_of(args.resource_type) or args.resource_type} {args.name} holds state in stack {stack} but is not protected: "
            "add opts=pulumi.ResourceOptions(protect=True)",
            None,
        )


# Empty by default: which registries an organisation trusts is its own decision, and a default
# list would approve namespaces the adopting team does not own (Docker Hub's dataops/ was one).
# Until a team sets approvedRegistries in its policy config the policy checks nothing
# (docs/policy.md shows the list our stacks pull from).
DEFAULT_APPROVED_REGISTRIES: tuple[str, ...] = ()


def registry_approved(ref: ImageRef, approved: Iterable[str]) -> bool:
    name = ref.name.lower()
    for entry in approved:
        entry = entry.strip().rstrip("/").lower()
        if entry and (name == entry or name.startswith(entry + "/") or ref.registry == entry):
            return True
    return False


def _images(args: ResourceValidationArgs) -> list[tuple[str, ImageRef]]:
    found = []
    for container in _workload_containers(args):
        image = text(get(container.spec, "image"))
        if image and image.strip():
            found.append((f"container {container.name} ({container.path}.image)", parse_image(image)))
    if is_helm_release(args.resource_type):
        for image in values_images(get(args.props, "values")):
            if image.reference is not None:
                found.append((f"Helm value {image.path}", image.reference))
    return found


def validate_approved_registries(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    approved = _config_list(args, "approvedRegistries", DEFAULT_APPROVED_REGISTRIES)
    if not approved:
        return
    for where, ref in _images(args):
        if not registry_approved(ref, approved):
            report_violation(f"{where} pulls {ref.name}, which is not under an approved registry ({', '.join(approved)})", None)


# --------------------------------------------------------------------------------------
# The policies
# --------------------------------------------------------------------------------------

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="no-plaintext-credentials",
        description="Credentials only as Pulumi secrets: Secret data/stringData are secrets; no password/token/secret/key/webhook value in plain inputs (ConfigMaps, Helm values, env vars, args).",
        validate=validate_no_plaintext_credentials,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="images-pinned",
        description="Every image we set (workload containers, Helm values) is pinned to a version tag or a sha256 digest, never 'latest' or untagged.",
        validate=validate_images_pinned,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="container-resources",
        description="Every container we define has CPU and memory requests and limits.",
        validate=validate_container_resources,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="pods-run-as-non-root",
        description="Every pod we define runs as non-root (runAsNonRoot: true on the pod or every container, never user 0).",
        validate=validate_run_as_non_root,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="containers-read-only-root-filesystem",
        description="Every container we define has a read-only root filesystem.",
        validate=validate_read_only_root_filesystem,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="containers-no-privilege-escalation",
        description="Every container we define sets allowPrivilegeEscalation: false and is not privileged.",
        validate=validate_no_privilege_escalation,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="pods-seccomp-runtime-default",
        description="Every container we define runs under the RuntimeDefault seccomp profile (set on the pod or the container).",
        validate=validate_seccomp_runtime_default,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="helm-chart-version-exact",
        description="Every Helm release names one exact chart version (no range, not empty).",
        validate=validate_helm_chart_version_exact,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="prometheus-rules-selected",
        description="Every PrometheusRule carries the label Prometheus selects rules by (RULE_SELECTOR_LABELS in the program).",
        validate=validate_prometheus_rule_selected,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="alert-rules-complete",
        description="Every alert rule has labels.severity, annotations.summary and annotations.runbook_url.",
        validate=validate_alert_rules_complete,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name="prod-protects-stateful-resources",
        description="In protected stacks (prod), stateful resources (Namespace, Helm releases, StatefulSets, PVCs, anything with volume claim templates) have protect: true.",
        validate=validate_prod_protects_stateful,
        enforcement_level=ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={
                "protectedStacks": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "default": list(DEFAULT_PROTECTED_STACKS),
                    "description": "Stacks whose stateful resources must be protected.",
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="approved-image-registries",
        description="Every image we set comes from an approved registry (policy config approvedRegistries).",
        validate=validate_approved_registries,
        enforcement_level=ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={
                "approvedRegistries": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "default": list(DEFAULT_APPROVED_REGISTRIES),
                    "description": "Registry hosts (quay.io) or host/path prefixes (docker.io/prom) images may come from; Docker Hub is docker.io. Empty (the default): nothing is checked until you set it.",
                }
            }
        ),
    ),
]


def config_defaults(policy: ResourceValidationPolicy) -> dict[str, Any]:
    """The configuration a policy gets when nobody sets any: its schema's defaults."""
    schema = policy.config_schema
    if schema is None:
        return {}
    return {key: spec["default"] for key, spec in schema.properties.items() if "default" in spec}

