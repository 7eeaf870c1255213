"""NetworkPolicy building blocks for the pods of the monitoring namespace.

Policies are additive: every policy that selects a pod adds the flows it allows, so each domain
declares the flows it needs in its own policy (Thanos adds the sidecar's gRPC port to the
Prometheus pods, for example) and a pod is default-deny in a direction as soon as one policy
with that policy type selects it. Exporters use :func:`core.k8s.exporter_network_policy`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from core.k8s import NAMESPACE_NAME_LABEL, labels

Rule = dict[str, Any]

# The API server's ports: 443 behind the kubernetes Service, 6443 where the endpoint is the
# apiserver itself (kubeadm and most distributions); NetworkPolicies see the endpoint's port.
API_SERVER_PORTS = (443, 6443)
DNS_PORTS = ((53, "UDP"), (53, "TCP"))


def ports(*numbers: Any, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": n, "protocol": protocol} for n in numbers]


def pods(pod_labels: Mapping[str, str]) -> dict[str, Any]:
    """Pods of the policy's own namespace with these labels."""
    return {"podSelector": {"matchLabels": dict(pod_labels)}}


def pods_in(namespaces: Optional[Sequence[pulumi.Input[str]]], pod_labels: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Pods in these namespaces (None: every namespace), all or those with ``pod_labels``."""
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(namespaces)}]}
        if namespaces is not None else {}
    }
    if pod_labels:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def cidrs(blocks: Sequence[str]) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": block}} for block in blocks]


def allow(peers: Sequence[Mapping[str, Any]], port_list: Sequence[Mapping[str, Any]], direction: str) -> Rule:
    """One ingress (``from``) or egress (``to``) rule; no peers: any address; no ports: every port."""
    rule: Rule = {"ports": list(port_list)} if port_list else {}
    if peers:
        rule["from" if direction == "ingress" else "to"] = [dict(p) for p in peers]
    return rule


def dns() -> Rule:
    """Name lookups: the cluster DNS (k8s-app=kube-dns in kube-system) on port 53."""
    return allow([pods_in(["kube-system"], {"k8s-app": "kube-dns"})], [{"port": p, "protocol": proto} for p, proto in DNS_PORTS], "egress")


def api_server(blocks: Sequence[str]) -> Rule:
    return allow(cidrs(blocks), ports(*API_SERVER_PORTS), "egress")


def network_policy(
    name: str,
    namespace: pulumi.Input[str],
    pod_labels: Mapping[str, str],
    parent: pulumi.Resource,
    *,
    ingress: Optional[Sequence[Rule]] = None,
    egress: Optional[Sequence[Rule]] = None,
    component: Optional[str] = None,
) -> k8s.networking.v1.NetworkPolicy:
    """A networking.k8s.io/v1 NetworkPolicy for the pods with ``pod_labels``.

    ``ingress``/``egress`` None: the policy leaves that direction to the others selecting the pod;
    a list (even empty): the direction is in policyTypes, so only the listed flows (and those of
    other policies) are allowed.
    """
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    spec: dict[str, Any] = {"podSelector": {"matchLabels": dict(pod_labels)}, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = list(ingress)
    if egress is not None:
        spec["egress"] = list(egress)
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata={"name": name, "namespace": namespace, "labels": labels(component or name)},
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent),
    )
