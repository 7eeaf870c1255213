"""Kubernetes helpers every domain shares: labels, Helm values merging, monitors, exporter workloads."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "dataops-monitoring"}


def labels(component: str, **extra: str) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/name": component, **extra}


class ValuesConflict(ValueError):
    pass


def merge_values(base: Mapping[str, Any], *contributions: Mapping[str, Any], _path: str = "") -> dict[str, Any]:
    """Deep-merge Helm values contributions; two components setting one leaf differently is a bug."""
    result = copy.deepcopy(dict(base))
    for contribution in contributions:
        for key, value in contribution.items():
            path = f"{_path}.{key}" if _path else key
            if key in result and isinstance(result[key], Mapping) and isinstance(value, Mapping):
                result[key] = merge_values(result[key], value, _path=path)
            elif key in result and isinstance(result[key], list) and isinstance(value, list):
                result[key] = result[key] + [v for v in value if v not in result[key]]
            elif key in result and result[key] != value:
                raise ValuesConflict(f"Helm value {path} is set to both {result[key]!r} and {value!r}")
            else:
                result[key] = copy.deepcopy(value)
    return result


def monitor(
    kind: str,
    name: str,
    namespace: pulumi.Input[str],
    spec: Mapping[str, Any],
    parent: pulumi.Resource,
    operator: pulumi.Resource,
    component: str,
    depends_on: Sequence[pulumi.Resource] = (),
    aliases: Sequence[pulumi.Alias] = (),
) -> k8s.apiextensions.CustomResource:
    """A ServiceMonitor or PodMonitor; like every operator CR it waits for the chart's CRDs."""
    if kind not in ("ServiceMonitor", "PodMonitor"):
        raise ValueError(f"unsupported monitor kind {kind}")
    return k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(component)),
        spec=dict(spec),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[operator, *depends_on], aliases=list(aliases) or None),
    )


def keep_metrics(pattern: str) -> list[dict[str, Any]]:
    """metricRelabelings that keep only series whose name matches ``pattern`` (cardinality control)."""
    return [{"sourceLabels": ["__name__"], "regex": pattern, "action": "keep"}]


# libyaml's safe loader when PyYAML was built with it (the same documents, several times faster:
# every render parses every rule file), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file we ship (rule file, asset, Pulumi.yaml), safely loaded."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)


def load_asset(package_file: str, file_name: str) -> Any:
    """A YAML data file a domain ships in its ``assets/`` folder (JMX config, statsd mapping, ...)."""
    return read_yaml(Path(package_file).resolve().parent / "assets" / file_name)


def dump_yaml(document: Any) -> str:
    """Deterministic YAML for ConfigMaps and Secrets: a re-run must preview no diff."""
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=True)


def credentials_secret(
    name: str,
    namespace: pulumi.Input[str],
    component: str,
    string_data: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
    *,
    always: bool = False,
    aliases: Sequence[pulumi.Alias] = (),
) -> Optional[k8s.core.v1.Secret]:
    """The Opaque Secret ``name`` with our labels for ``component``, a child of ``parent``.

    Every value of ``string_data`` goes in as a Pulumi secret Output, whatever it is (a user
    name too: the render masks by value, the engine sees the whole stringData secret anyway).
    Nothing to put in it: no Secret (None), unless ``always`` (something mounts it by name):
    then one without stringData at all, since an empty stringData never reads back from the
    API server and the real engine replaced the Secret on every `pulumi up` (found by make e2e).
    """
    if not string_data and not always:
        return None
    return k8s.core.v1.Secret(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(component)),
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in string_data.items()} or None,
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases) or None),
    )


def restricted_security_context(user: int) -> k8s.core.v1.SecurityContextArgs:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}


def with_runtime_default_seccomp(context: Optional[k8s.core.v1.PodSecurityContextArgs]) -> k8s.core.v1.PodSecurityContextArgs:
    """The pod security context with the RuntimeDefault seccomp profile (the container runtime's syscall filter)."""
    context = copy.copy(context) if context is not None else k8s.core.v1.PodSecurityContextArgs()
    if context.seccomp_profile is None:
        context.seccomp_profile = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
    return context


def pod_spec(
    containers: Sequence[k8s.core.v1.ContainerArgs],
    *,
    volumes: Optional[Sequence[k8s.core.v1.VolumeArgs]] = None,
    security_context: Optional[k8s.core.v1.PodSecurityContextArgs] = None,
    automount_service_account_token: bool = False,
    service_account_name: Optional[str] = None,
    termination_grace_period_seconds: Optional[int] = None,
    affinity: Optional[k8s.core.v1.AffinityArgs] = None,
) -> k8s.core.v1.PodSpecArgs:
    """A pod we define: the RuntimeDefault seccomp profile, and no service account token unless
    ``automount_service_account_token`` (only a pod that calls the Kubernetes API needs one).
    ``volumes`` None: no volumes field at all (an empty list is kept as one)."""
    return k8s.core.v1.PodSpecArgs(
        containers=list(containers),
        volumes=None if volumes is None else list(volumes),
        security_context=with_runtime_default_seccomp(security_context),
        automount_service_account_token=automount_service_account_token,
        service_account_name=service_account_name,
        termination_grace_period_seconds=termination_grace_period_seconds,
        affinity=affinity,
    )


def spread_over_nodes(selector: Mapping[str, str]) -> k8s.core.v1.AffinityArgs:
    """Replicas (pods matching ``selector``) on different nodes when possible: one node lost keeps the others up."""
    return k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname", label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
                    ),
                )
            ]
        )
    )


# --------------------------------------------------------------------------------------
# NetworkPolicies for the exporters we run: ingress only from Prometheus (and a workload's
# own senders), egress only to DNS and the exporter's targets.
# --------------------------------------------------------------------------------------

# The operator labels every Prometheus pod app.kubernetes.io/name=prometheus.
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


def namespace_peer(namespaces: Sequence[pulumi.Input[str]], pod_labels: Optional[Mapping[str, str]] = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods (all, or those with ``pod_labels``) in exactly these namespaces."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(key=NAMESPACE_NAME_LABEL, operator="In", values=list(namespaces))]
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None,
    )


def _ports(ports: Sequence[tuple[pulumi.Input[Any], str]]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol) for port, protocol in ports]


def from_prometheus(monitoring_namespace: pulumi.Input[str], port: pulumi.Input[Any]) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    """Ingress from the Prometheus pods of the monitoring namespace to the metrics port."""
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
        from_=[namespace_peer([monitoring_namespace], PROMETHEUS_POD_LABELS)], ports=_ports([(port, "TCP")])
    )


def dns_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Name lookups: the cluster DNS (k8s-app=kube-dns in kube-system) on port 53."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[namespace_peer(["kube-system"], {"k8s-app": "kube-dns"})], ports=_ports([(53, "UDP"), (53, "TCP")])
    )


def egress_to_ports(ports: Sequence[int]) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """Egress to these TCP ports on any address: the targets are host names (a policy cannot name hosts)."""
    ports = sorted(set(ports))
    return [k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=_ports([(p, "TCP") for p in ports]))] if ports else []


def exporter_network_policy(
    name: str,
    namespace: pulumi.Input[str],
    parent: pulumi.Resource,
    *,
    metrics_port: pulumi.Input[Any],
    extra_ingress: Sequence[k8s.networking.v1.NetworkPolicyIngressRuleArgs] = (),
    egress: Sequence[k8s.networking.v1.NetworkPolicyEgressRuleArgs] = (),
) -> k8s.networking.v1.NetworkPolicy:
    """NetworkPolicy for the pods of ``deployment_with_service(name, ...)``: both directions default-deny.

    Ingress: Prometheus (app.kubernetes.io/name=prometheus in ``namespace``, the monitoring
    namespace) on ``metrics_port``, plus ``extra_ingress``. Egress: exactly ``egress`` (none
    given: the pod opens no connection at all).
    """
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(name)),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": name}),
            policy_types=["Ingress", "Egress"],
            ingress=[from_prometheus(namespace, metrics_port), *extra_ingress],
            egress=list(egress),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def deployment_with_service(
    name: str,
    namespace: pulumi.Input[str],
    container: k8s.core.v1.ContainerArgs,
    ports: Sequence[k8s.core.v1.ServicePortArgs],
    parent: pulumi.Resource,
    *,
    replicas: int = 1,
    volumes: Optional[Sequence[k8s.core.v1.VolumeArgs]] = None,
    pod_annotations: Optional[Mapping[str, str]] = None,
    pod_security_context: Optional[k8s.core.v1.PodSecurityContextArgs] = None,
    automount_service_account_token: bool = False,
    depends_on: Sequence[pulumi.Resource] = (),
    pod_labels: Optional[Mapping[str, str]] = None,
    with_service: bool = True,
    strategy: Optional[k8s.apps.v1.DeploymentStrategyArgs] = None,
    service_account_name: Optional[str] = None,
    termination_grace_period_seconds: Optional[int] = None,
    affinity: Optional[k8s.core.v1.AffinityArgs] = None,
) -> tuple[k8s.apps.v1.Deployment, Optional[k8s.core.v1.Service]]:
    """A Deployment of one container and the ClusterIP Service in front of it, both named ``name``.

    Pods and Service share the selector ``app.kubernetes.io/name: <name>``, which is also what
    the component's ServiceMonitor selects. Every pod runs under the RuntimeDefault seccomp
    profile, and without a service account token unless ``automount_service_account_token``
    (our exporters never call the Kubernetes API). ``pod_labels`` replace the selector (several
    Deployments behind one Service); ``with_service=False`` creates the Deployment only.
    ``strategy``, ``service_account_name``, ``termination_grace_period_seconds`` and ``affinity``
    go to the Deployment and its pods as given (``pod_spec``).
    """
    selector = dict(pod_labels or {"app.kubernetes.io/name": name})
    deployment = k8s.apps.v1.Deployment(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(name)),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            strategy=strategy,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels(name), **selector}, annotations=dict(pod_annotations or {}) or None),
                spec=pod_spec(
                    [container],
                    volumes=volumes,
                    security_context=pod_security_context,
                    automount_service_account_token=automount_service_account_token,
                    service_account_name=service_account_name,
                    termination_grace_period_seconds=termination_grace_period_seconds,
                    affinity=affinity,
                ),
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
    if not with_service:
        return deployment, None
    service = k8s.core.v1.Service(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels={**labels(name), **selector}),
        spec=k8s.core.v1.ServiceSpecArgs(selector=selector, ports=list(ports)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return deployment, service
