"""NetworkPolicies of Thanos: Query, Store Gateway, Compactor, Receive and the Ruler,
each default-deny in both directions, plus the flows Thanos adds to the chart's pods (the
sidecar's gRPC port and object-storage upload on Prometheus, Grafana to Query).

Flows: Query -> StoreAPI (gRPC 10901) of the sidecars, Store, Ruler, Receive and any
thanosStoreEndpoints; Grafana and the Ruler -> Query's HTTP API; the Ruler -> Alertmanager;
Store/Compactor/Receive/Ruler/sidecars -> object storage (thanosObjectStorageCidrs on the
endpoint's port); Receive replicas -> each other (gRPC, replication); Prometheus -> Receive
(remote write) and every part's /metrics (HTTP 10902); everyone -> DNS.
"""

from __future__ import annotations

from typing import Any, Optional

from components.prometheus_stack.network import ALERTMANAGER_PODS, ALERTMANAGER_WEB, GRAFANA_PODS, PROMETHEUS_PODS
from components.thanos.common import GRPC_PORT, HTTP_PORT, QUERY, Build, selector
from components.thanos.compact import COMPACT
from components.thanos.receive import RECEIVE, REMOTE_WRITE_PORT
from components.thanos.ruler import RULER, RULER_NAME, ruler_enabled
from components.thanos.settings import BucketSettings, ThanosSettings
from components.thanos.store import STORE
from core.network import allow, cidrs, dns, network_policy, pods, ports

# prometheus-operator labels the ThanosRuler pods app.kubernetes.io/name=thanos-ruler and
# thanos-ruler=<name> (pkg/thanos/statefulset.go).
RULER_PODS = {"app.kubernetes.io/name": "thanos-ruler", "thanos-ruler": RULER_NAME}
DEFAULT_STORE_ENDPOINT_PORT = GRPC_PORT  # a dnssrv+ endpoint's port comes from its SRV record


def part_pods(component: str) -> dict[str, str]:
    return RULER_PODS if component == RULER else selector(component)


def object_storage_port(bucket: Optional[BucketSettings]) -> int:
    """thanosEndpoint's port, else 80 with thanosInsecure and 443 without."""
    if bucket is not None and ":" in bucket.endpoint.rsplit("]", 1)[-1]:
        return int(bucket.endpoint.rsplit(":", 1)[1])
    return 80 if bucket is not None and bucket.insecure else 443


def store_endpoint_ports(thanos: ThanosSettings) -> list[int]:
    found = set()
    for endpoint in thanos.store_endpoints:
        address = endpoint.split("+", 1)[1] if endpoint.startswith(("dns+", "dnssrv+", "dnssrvnoa+")) else endpoint
        found.add(DEFAULT_STORE_ENDPOINT_PORT if endpoint.startswith("dnssrv") else int(address.rsplit(":", 1)[1]))
    return sorted(found)


def object_storage(thanos: ThanosSettings) -> dict[str, Any]:
    return allow(cidrs(thanos.object_storage_cidrs), ports(object_storage_port(thanos.bucket)), "egress")


def from_prometheus(*port_numbers: int) -> dict[str, Any]:
    return allow([pods(PROMETHEUS_PODS)], ports(*port_numbers), "ingress")


def parts(thanos: ThanosSettings) -> list[str]:
    return [QUERY, STORE, COMPACT] + ([RECEIVE] if thanos.receive_enabled else []) + ([RULER] if ruler_enabled(thanos) else [])


def rules(thanos: ThanosSettings) -> dict[str, tuple[list, list]]:
    """(ingress, egress) per Thanos part this stack runs."""
    on = parts(thanos)
    store_apis = [PROMETHEUS_PODS] + [part_pods(p) for p in (STORE, RECEIVE, RULER) if p in on]
    query_egress = [dns(), allow([pods(p) for p in store_apis], ports(GRPC_PORT), "egress")]
    if thanos.store_endpoints:
        # Other clusters' Query or sidecars: host names, so any address on their ports.
        query_egress.append(allow([], ports(*store_endpoint_ports(thanos)), "egress"))
    query_clients = [pods(GRAFANA_PODS)] + ([pods(RULER_PODS)] if RULER in on else [])
    made = {
        QUERY: ([from_prometheus(HTTP_PORT), allow(query_clients, ports(HTTP_PORT), "ingress")], query_egress),
        STORE: ([from_prometheus(HTTP_PORT), allow([pods(selector(QUERY))], ports(GRPC_PORT), "ingress")], [dns(), object_storage(thanos)]),
        COMPACT: ([from_prometheus(HTTP_PORT)], [dns(), object_storage(thanos)]),
    }
    if RECEIVE in on:
        peers = [pods(selector(RECEIVE))]
        made[RECEIVE] = (
            [
                from_prometheus(HTTP_PORT, REMOTE_WRITE_PORT),
                allow([pods(selector(QUERY))] + peers, ports(GRPC_PORT), "ingress"),
            ],
            [dns(), object_storage(thanos), allow(peers, ports(GRPC_PORT), "egress")],
        )
    if RULER in on:
        made[RULER] = (
            [from_prometheus(HTTP_PORT), allow([pods(selector(QUERY))], ports(GRPC_PORT), "ingress")],
            [
                dns(),
                object_storage(thanos),
                allow([pods(selector(QUERY))], ports(HTTP_PORT), "egress"),
                allow([pods(ALERTMANAGER_PODS)], ports(ALERTMANAGER_WEB), "egress"),
            ],
        )
    return made


def chart_pod_rules(thanos: ThanosSettings) -> dict[str, tuple[dict[str, str], Optional[list], Optional[list]]]:
    """What Thanos adds to the chart's pods: (pod labels, ingress, egress)."""
    sidecar_egress = [object_storage(thanos)]
    if thanos.receive_enabled:
        sidecar_egress.append(allow([pods(selector(RECEIVE))], ports(REMOTE_WRITE_PORT), "egress"))
    made: dict[str, tuple[dict[str, str], Optional[list], Optional[list]]] = {
        # The sidecar: Query reads its StoreAPI; Prometheus scrapes its /metrics; it uploads blocks.
        "thanos-sidecar": (
            PROMETHEUS_PODS,
            [allow([pods(selector(QUERY))], ports(GRPC_PORT), "ingress"), from_prometheus(HTTP_PORT)],
            sidecar_egress,
        ),
        "thanos-grafana": (GRAFANA_PODS, None, [allow([pods(selector(QUERY))], ports(HTTP_PORT), "egress")]),
    }
    if ruler_enabled(thanos):
        # The Ruler's alerts (the SLO budgets) go to every Alertmanager replica.
        made["thanos-alertmanager"] = (ALERTMANAGER_PODS, [allow([pods(RULER_PODS)], ports(ALERTMANAGER_WEB), "ingress")], None)
    return made


def build_network_policies(build: Build) -> list:
    made = []
    for component, (ingress, egress) in rules(build.thanos).items():
        made.append(network_policy(f"{component}-netpol", build.wiring.namespace, part_pods(component), build.parent, ingress=ingress, egress=egress, component=component))
    for name, (pod_labels, ingress, egress) in chart_pod_rules(build.thanos).items():
        made.append(network_policy(f"{name}-netpol", build.wiring.namespace, pod_labels, build.parent, ingress=ingress, egress=egress, component=name))
    return made
