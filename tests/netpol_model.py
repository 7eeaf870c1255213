"""A small NetworkPolicy evaluator (networking.k8s.io/v1 semantics) over rendered objects, for
tests/test_network_flows.py: pods, Services, and whether one endpoint may open a connection to
another on a port. Policies add up; a pod no policy of a direction selects is open in it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # container port name -> (number, protocol)

    def __hash__(self) -> int:
        return hash((self.name, self.namespace))


@dataclass(frozen=True)
class Address:
    ip: str


Endpoint = Union[Pod, Address]


def _matches_labels(selector: Optional[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        present, value = expression["key"] in labels, labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and present and value in expression["values"]:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False  # pod IPs in ipBlocks are implementation-defined: not relied on
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not _matches_labels(peer["namespaceSelector"], {NAMESPACE_NAME_LABEL: other.namespace}):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _matches_labels(peer.get("podSelector"), other.labels)


def _port_matches(entries: Optional[list], port: int, protocol: str, destination: Endpoint) -> bool:
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port:
            return True
        if isinstance(wanted, str) and isinstance(destination, Pod) and destination.ports.get(wanted) == (port, protocol):
            return True
    return False


class Cluster:
    def __init__(self, policies: list[Mapping[str, Any]]):
        self.policies = policies

    def _selecting(self, pod: Pod, direction: str) -> list[Mapping[str, Any]]:
        return [
            p for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace and direction in p["spec"].get("policyTypes", ["Ingress"])
            and _matches_labels(p["spec"].get("podSelector") or {}, pod.labels)
        ]

    def _allows(self, pod: Pod, direction: str, other: Endpoint, port: int, protocol: str, destination: Endpoint) -> bool:
        selecting = self._selecting(pod, direction)
        if not selecting:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if (not peers or any(_peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)) and _port_matches(rule.get("ports"), port, protocol, destination):
                    return True
        return False

    def allowed(self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
        egress = not isinstance(source, Pod) or self._allows(source, "Egress", destination, port, protocol, destination)
        ingress = not isinstance(destination, Pod) or self._allows(destination, "Ingress", source, port, protocol, destination)
        return egress and ingress
