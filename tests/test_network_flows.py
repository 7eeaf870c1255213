"""Every flow the stack needs, derived from the rendered objects, is allowed by the rendered
NetworkPolicies, and a pod outside them is not (tests/netpol_model.py evaluates the policies).

Flows come from: ServiceMonitors, PodMonitors and Probes (Prometheus -> target port), Grafana's
datasources, the ThanosRuler's query and Alertmanager URLs, Thanos Query's endpoint discovery,
Prometheus' remote write, Receive's hashring, the object storage and the API server. The chart's
and the operator's pods are modelled from their upstream labels and ports (written out here,
independently of components/*/network.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest

from tests.netpol_model import Address, Cluster, Pod
from tests.conftest import with_secrets
from tools.mock_engine import PROJECT

NS = "monitoring"
OBJSTORE_IP, OTHER_IP, API_IP = "10.20.5.5", "10.30.0.1", "10.0.0.1"
OVERRIDES = {
    f"{PROJECT}:thanosReceiveEnabled": True,
    f"{PROJECT}:thanosEndpoint": f"{OBJSTORE_IP}:9000",
    f"{PROJECT}:thanosObjectStorageCidrs": ["10.20.0.0/16"],
    f"{PROJECT}:kubeApiServerCidrs": [f"{API_IP}/32"],
}

# Upstream facts: kube-prometheus-stack 88.5.3 templates and prometheus-operator v0.93 builders.
PROMETHEUS = Pod("prometheus-0", NS, {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "kube-prometheus-stack-prometheus",
                                      "prometheus": "kube-prometheus-stack-prometheus", "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"},
                 {"http-web": (9090, "TCP"), "reloader-web": (8080, "TCP"), "grpc": (10901, "TCP"), "http": (10902, "TCP")})
ALERTMANAGER = Pod("alertmanager-0", NS, {"app.kubernetes.io/name": "alertmanager", "alertmanager": "kube-prometheus-stack-alertmanager"},
                   {"http-web": (9093, "TCP"), "tcp-mesh": (9094, "TCP"), "udp-mesh": (9094, "UDP"), "reloader-web": (8080, "TCP")})
GRAFANA = Pod("grafana", NS, {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "kube-prometheus-stack"}, {"grafana": (3000, "TCP")})
OPERATOR = Pod("operator", NS, {"app": "kube-prometheus-stack-operator", "release": "kube-prometheus-stack",
                                "app.kubernetes.io/name": "kube-prometheus-stack-prometheus-operator"}, {"https": (10250, "TCP")})
KSM = Pod("kube-state-metrics", NS, {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": "kube-prometheus-stack"},
          {"http": (8080, "TCP"), "metrics": (8081, "TCP")})
DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")})
CHART_SERVICES = [  # (name, labels, selector pod, {port name: (port, targetPort)})
    ("kube-prometheus-stack-thanos-discovery", {}, PROMETHEUS, {"grpc": (10901, "grpc"), "http": (10902, "http")}),
    ("kube-prometheus-stack-prometheus", {}, PROMETHEUS, {"http-web": (9090, "http-web"), "reloader-web": (8080, "reloader-web")}),
    ("alertmanager-operated", {}, ALERTMANAGER, {"http-web": (9093, "http-web")}),
    ("kube-prometheus-stack-alertmanager", {}, ALERTMANAGER, {"http-web": (9093, "http-web")}),
]


@pytest.fixture(scope="module")
def rendered(request):
    from tools.mock_engine import run_program, stack_config

    config, keys = stack_config("prod", placeholder_secrets=False, overrides={**with_secrets(), **OVERRIDES})
    run = run_program("prod", config, keys)
    return run


def _inputs(run, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.registrations if r.type.endswith(f":{kind}")]


def model(run):
    """Pods (ours from the workloads, the chart's, the Ruler's) and Services by namespace/name."""
    pods: list[Pod] = [PROMETHEUS, ALERTMANAGER, GRAFANA, OPERATOR, KSM]
    for kind in ("Deployment", "StatefulSet"):
        for workload in _inputs(run, kind):
            template = workload["spec"]["template"]
            ports = {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for c in template["spec"]["containers"] for p in c.get("ports") or []}
            pods.append(Pod(workload["metadata"]["name"], workload["metadata"]["namespace"], template["metadata"]["labels"], ports))
    services = []
    for ruler in _inputs(run, "ThanosRuler"):
        pod = Pod("thanos-ruler-0", NS, {"app.kubernetes.io/name": "thanos-ruler", "app.kubernetes.io/managed-by": "prometheus-operator",
                                         "app.kubernetes.io/instance": ruler["metadata"]["name"], "thanos-ruler": ruler["metadata"]["name"]},
                  {"web": (10902, "TCP"), "grpc": (10901, "TCP")})
        pods.append(pod)
        services.append(("thanos-ruler-operated", NS, {"operated-thanos-ruler": "true"}, [pod], {"web": (10902, "web"), "grpc": (10901, "grpc")}))
    for name, labels, pod, ports in CHART_SERVICES:
        services.append((name, NS, labels, [pod], ports))
    for service in _inputs(run, "Service"):
        selector = service["spec"].get("selector") or {}
        selected = [p for p in pods if p.namespace == service["metadata"]["namespace"] and selector.items() <= p.labels.items()]
        ports = {p["name"]: (p["port"], p.get("targetPort", p["port"])) for p in service["spec"]["ports"]}
        services.append((service["metadata"]["name"], service["metadata"]["namespace"], service["metadata"].get("labels") or {}, selected, ports))
    return pods, services


def _pod_port(pod: Pod, target: Any) -> tuple[int, str]:
    return pod.ports[target] if isinstance(target, str) else (int(target), "TCP")


def _by_address(services, host: str, port_or_name: Any) -> Iterator[tuple[Pod, int, str]]:
    """The pods and pod ports behind ``service.namespace.svc[.cluster.local]`` and a Service port (number or name)."""
    name, namespace = host.split(".")[:2]
    [(_, _, _, pods, ports)] = [s for s in services if s[0] == name and s[1] == namespace]
    [(_, target)] = [v for k, v in ports.items() if port_or_name in (k, v[0])]
    for pod in pods:
        yield (pod, *_pod_port(pod, target))


def labels_satisfying(selector: dict) -> dict[str, str]:
    """Pod labels a label selector matches (a target pod of a monitor in another namespace)."""
    found = dict(selector.get("matchLabels") or {})
    for expression in selector.get("matchExpressions") or []:
        if expression["operator"] in ("In", "Exists"):
            found[expression["key"]] = (expression.get("values") or ["x"])[0]
    return found


def required_flows(run) -> list[tuple[Pod, Any, int, str, str]]:
    """(source, destination, port, protocol, why) for every flow the rendered stack needs."""
    pods, services = model(run)
    flows = []
    for monitor in _inputs(run, "ServiceMonitor"):
        namespaces = (monitor["spec"].get("namespaceSelector") or {}).get("matchNames") or [monitor["metadata"]["namespace"]]
        wanted = labels_satisfying(monitor["spec"]["selector"])
        found = [s for s in services if s[1] in namespaces and wanted.items() <= s[2].items()]
        for endpoint in monitor["spec"]["endpoints"]:
            for _name, _, _, selected, ports in found:
                for pod in selected:
                    flows.append((PROMETHEUS, pod, *_pod_port(pod, ports[endpoint["port"]][1]), f"ServiceMonitor {monitor['metadata']['name']}"))
            if not found:  # targets in the workloads' namespaces: no policy of ours selects them
                for namespace in namespaces:
                    flows.append((PROMETHEUS, Pod("target", namespace, wanted, {endpoint["port"]: (8080, "TCP")}), 8080, "TCP", f"ServiceMonitor {monitor['metadata']['name']}"))
    for monitor in _inputs(run, "PodMonitor"):
        for namespace in monitor["spec"]["namespaceSelector"]["matchNames"]:
            for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                target = Pod("target", namespace, labels_satisfying(monitor["spec"]["selector"]), {endpoint["port"]: (9404, "TCP")})
                flows.append((PROMETHEUS, target, 9404, "TCP", f"PodMonitor {monitor['metadata']['name']}"))
    for probe in _inputs(run, "Probe"):
        host, port = probe["spec"]["prober"]["url"].rsplit(":", 1)
        flows += [(PROMETHEUS, pod, number, proto, f"Probe {probe['metadata']['name']}") for pod, number, proto in _by_address(services, host, int(port))]
    values = [r for r in _inputs(run, "Release")][0]["values"]
    datasources = [ds["url"] for ds in values["grafana"].get("additionalDataSources") or []]
    for url in datasources + ["http://kube-prometheus-stack-prometheus.monitoring.svc:9090", "http://kube-prometheus-stack-alertmanager.monitoring.svc:9093"]:
        host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
        flows += [(GRAFANA, pod, number, proto, f"Grafana datasource {url}") for pod, number, proto in _by_address(services, host, int(port))]
    ruler_pod = next((p for p in pods if p.name == "thanos-ruler-0"), None)
    for ruler in _inputs(run, "ThanosRuler"):
        for address in ruler["spec"]["queryEndpoints"]:
            host, port = address.rsplit(":", 1)
            flows += [(ruler_pod, pod, n, proto, "Ruler -> Query") for pod, n, proto in _by_address(services, host, int(port))]
        for url in ruler["spec"]["alertmanagersUrl"]:
            name, host = re.match(r"dnssrv\+https?://_([^.]+)\._tcp\.(.+)", url).groups()
            flows += [(ruler_pod, pod, n, proto, "Ruler -> Alertmanager") for pod, n, proto in _by_address(services, host, name)]
        flows.append((ruler_pod, Address(OBJSTORE_IP), 9000, "TCP", "Ruler uploads"))
    query = next(p for p in pods if p.name == "thanos-query")
    for flag in next(w for w in _inputs(run, "Deployment") if w["metadata"]["name"] == "thanos-query")["spec"]["template"]["spec"]["containers"][0]["args"]:
        if flag.startswith("--endpoint.sd-config="):
            for endpoint in json.loads(flag.split("=", 1)[1])["endpoints"]:
                name, host = re.match(r"dnssrv\+_([^.]+)\._tcp\.(.+)", endpoint["address"]).groups()
                flows += [(query, pod, n, proto, f"Query -> {host}") for pod, n, proto in _by_address(services, host, name)]
    for remote in values["prometheus"]["prometheusSpec"].get("remoteWrite") or []:
        host, port = re.match(r"https?://([^:/]+):(\d+)", remote["url"]).groups()
        flows += [(PROMETHEUS, pod, n, proto, "remote write") for pod, n, proto in _by_address(services, host, int(port))]
    receive = [p for p in pods if p.name == "thanos-receive"]
    flows += [(r, r, 10901, "TCP", "Receive replication") for r in receive]
    for pod in pods:
        if pod.name in ("thanos-store", "thanos-compact", "thanos-receive", "prometheus-0"):
            flows.append((pod, Address(OBJSTORE_IP), 9000, "TCP", f"{pod.name} reads/writes the bucket"))
    for pod in (OPERATOR, PROMETHEUS, GRAFANA, KSM):
        flows += [(pod, Address(API_IP), port, "TCP", f"{pod.name} -> API server") for port in (443, 6443)]
    flows.append((Address(API_IP), OPERATOR, 10250, "TCP", "admission webhook"))
    flows += [(ALERTMANAGER, ALERTMANAGER, 9094, proto, "gossip") for proto in ("TCP", "UDP")]
    flows.append((PROMETHEUS, ALERTMANAGER, 9093, "TCP", "alerts"))
    # The chart's own ServiceMonitors (not rendered here): Prometheus, its reloader and sidecar,
    # Alertmanager and its reloader, Grafana, kube-state-metrics, the operator.
    for pod, port_names in ((PROMETHEUS, ("http-web", "reloader-web", "http")), (ALERTMANAGER, ("http-web", "reloader-web")),
                            (GRAFANA, ("grafana",)), (KSM, ("http", "metrics")), (OPERATOR, ("https",))):
        flows += [(PROMETHEUS, pod, *pod.ports[name], f"chart ServiceMonitor {pod.name}") for name in port_names]
    flows.append((ALERTMANAGER, Address("198.51.100.7"), 443, "TCP", "receivers (Slack, PagerDuty)"))
    # Every pod that opens connections looks names up (the statsd exporter only receives).
    clients = {s for s, *_ in flows if isinstance(s, Pod) and s.namespace == NS}
    flows += [(pod, DNS, 53, proto, "DNS") for pod in sorted(clients, key=lambda p: p.name) for proto in ("UDP", "TCP")]
    return flows


def test_the_policies_are_networking_v1_and_select_every_pod_of_the_namespace(rendered):
    policies = _inputs(rendered, "NetworkPolicy")
    assert all(p["apiVersion"] == "networking.k8s.io/v1" and p["kind"] == "NetworkPolicy" for p in policies)
    cluster = Cluster(policies)
    pods, _ = model(rendered)
    for pod in pods:
        for direction in ("Ingress", "Egress"):
            assert cluster._selecting(pod, direction), f"no {direction} policy selects {pod.name}"


def test_every_required_flow_is_allowed(rendered):
    cluster = Cluster(_inputs(rendered, "NetworkPolicy"))
    flows = required_flows(rendered)
    assert len({why.split()[0] for *_, why in flows}) > 10  # the derivation found flows of every kind
    denied = [f"{getattr(s, 'name', s)} -> {getattr(d, 'name', d)}:{port}/{proto} ({why})" for s, d, port, proto, why in flows if not cluster.allowed(s, d, port, proto)]
    assert denied == [], "\n".join(denied)


def test_a_pod_outside_the_policies_reaches_nothing_and_is_reached_by_nothing(rendered):
    cluster = Cluster(_inputs(rendered, "NetworkPolicy"))
    flows = [f for f in required_flows(rendered) if isinstance(f[1], Pod) and f[1].namespace in (NS, "kube-system")]
    for intruder in (Pod("intruder", NS, {"app": "intruder"}), Pod("intruder", "default", {"app.kubernetes.io/name": "prometheus"})):
        # Grafana's web port is open to everyone on purpose (users come through the cluster's ingress).
        reached = {(d.name, port, proto) for _, d, port, proto, _ in flows if d is not GRAFANA and d is not DNS and cluster.allowed(intruder, d, port, proto)}
        assert reached == set(), intruder
    target = Pod("intruder", NS, {"app": "intruder"}, {"any": (10901, "TCP")})
    # No source but Prometheus (which scrapes any pod) reaches a pod it does not need.
    sources = {s for s, *_ in required_flows(rendered) if isinstance(s, Pod) and s is not PROMETHEUS}
    assert sources and [s.name for s in sources if cluster.allowed(s, target, 10901)] == []


def test_object_storage_and_api_server_egress_follow_the_cidr_settings(rendered):
    cluster = Cluster(_inputs(rendered, "NetworkPolicy"))
    pods, _ = model(rendered)
    store = next(p for p in pods if p.name == "thanos-store")
    assert cluster.allowed(store, Address(OBJSTORE_IP), 9000)
    assert not cluster.allowed(store, Address(OTHER_IP), 9000)  # outside thanosObjectStorageCidrs
    assert not cluster.allowed(store, Address(OBJSTORE_IP), 22)  # not the endpoint's port
    assert cluster.allowed(OPERATOR, Address(API_IP), 6443) and not cluster.allowed(OPERATOR, Address(OTHER_IP), 6443)
    assert not cluster.allowed(ALERTMANAGER, Address(API_IP), 6443)  # Alertmanager never calls the API
    assert not cluster.allowed(Address(OTHER_IP), OPERATOR, 10250)  # the webhook port only for the API server
