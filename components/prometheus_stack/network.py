"""NetworkPolicies of the chart's pods: Prometheus, Alertmanager, Grafana, the operator
and kube-state-metrics, each default-deny in both directions with the flows the stack needs.

Pod labels are what the chart and the operator put on the pods (kube-prometheus-stack 88.5.3
templates, prometheus-operator v0.93 statefulset builders); the flows other domains need add
their own policies (Thanos: components/thanos/network.py), since policies add up. node-exporter
runs on the host network, where NetworkPolicies do not apply.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi

from core.k8s import PROMETHEUS_POD_LABELS
from core.network import allow, api_server, cidrs, dns, network_policy, pods, pods_in, ports

# The chart's release name and fullnameOverride (defined here: the pod labels derive from it).
RELEASE_NAME = "kube-prometheus-stack"

PROMETHEUS_PODS = dict(PROMETHEUS_POD_LABELS)  # operator: app.kubernetes.io/name=prometheus
ALERTMANAGER_PODS = {"app.kubernetes.io/name": "alertmanager"}  # operator
GRAFANA_PODS = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": RELEASE_NAME}  # grafana subchart
OPERATOR_PODS = {"app": f"{RELEASE_NAME}-operator", "release": RELEASE_NAME}  # the chart's operator Deployment selector
KUBE_STATE_METRICS_PODS = {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": RELEASE_NAME}

PROMETHEUS_WEB = 9090
CONFIG_RELOADER = 8080  # the operator's config-reloader sidecar (/metrics), in Prometheus and Alertmanager pods
ALERTMANAGER_WEB = 9093
ALERTMANAGER_GOSSIP = 9094  # cluster mesh between replicas, TCP and UDP
GRAFANA_WEB = 3000
OPERATOR_WEB = 10250  # the operator's HTTPS port: metrics and the admission webhook (prometheusOperator.tls.internalPort)
KSM_HTTP, KSM_TELEMETRY = 8080, 8081
# Targets on the host network (no pod selector reaches them): kubelet, node-exporter, kube-proxy,
# etcd, kube-controller-manager, kube-scheduler: the chart's default ServiceMonitors.
NODE_SCRAPE_PORTS = (10250, 9100, 10249, 2381, 10257, 10259)
# Alertmanager's receivers (Slack, PagerDuty, the dead man's switch) are https host names.
RECEIVER_PORTS = (443,)


def prometheus_rules(api_cidrs: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ingress = [
        allow([pods(GRAFANA_PODS)], ports(PROMETHEUS_WEB), "ingress"),  # Grafana's Prometheus datasource
        allow([pods(PROMETHEUS_PODS)], ports(PROMETHEUS_WEB, CONFIG_RELOADER), "ingress"),  # self-scrape, HA peer
    ]
    egress = [
        dns(),
        api_server(api_cidrs),  # Kubernetes service discovery
        # Scrape targets: ServiceMonitors, PodMonitors and Probes select pods in any namespace, on
        # ports the operator resolves at run time; Prometheus is the pod whose job is to reach them.
        allow([pods_in(None)], [], "egress"),
        allow([], ports(*NODE_SCRAPE_PORTS), "egress"),
    ]
    return ingress, egress


def alertmanager_rules() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    gossip = ports(ALERTMANAGER_GOSSIP) + ports(ALERTMANAGER_GOSSIP, protocol="UDP")
    ingress = [
        allow([pods(PROMETHEUS_PODS)], ports(ALERTMANAGER_WEB, CONFIG_RELOADER), "ingress"),  # alerts, scrape
        allow([pods(GRAFANA_PODS)], ports(ALERTMANAGER_WEB), "ingress"),  # Grafana's Alertmanager datasource
        allow([pods(ALERTMANAGER_PODS)], gossip, "ingress"),
    ]
    egress = [dns(), allow([pods(ALERTMANAGER_PODS)], gossip, "egress"), allow([], ports(*RECEIVER_PORTS), "egress")]
    return ingress, egress


def grafana_rules(api_cidrs: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ingress = [
        # Users reach Grafana through whatever ingress controller or proxy the cluster runs.
        allow([], ports(GRAFANA_WEB), "ingress"),
    ]
    egress = [
        dns(),
        api_server(api_cidrs),  # the dashboard and datasource sidecars watch ConfigMaps/Secrets
        allow([pods(PROMETHEUS_PODS)], ports(PROMETHEUS_WEB), "egress"),
        allow([pods(ALERTMANAGER_PODS)], ports(ALERTMANAGER_WEB), "egress"),
    ]
    return ingress, egress


def operator_rules(api_cidrs: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ingress = [
        # The admission webhook: the API server calls it (from its own addresses).
        allow(cidrs(api_cidrs), ports(OPERATOR_WEB), "ingress"),
        allow([pods(PROMETHEUS_PODS)], ports(OPERATOR_WEB), "ingress"),
    ]
    egress = [dns(), api_server(api_cidrs)]  # the operator only talks to the API server
    return ingress, egress


def kube_state_metrics_rules(api_cidrs: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return [allow([pods(PROMETHEUS_PODS)], ports(KSM_HTTP, KSM_TELEMETRY), "ingress")], [dns(), api_server(api_cidrs)]


def chart_network_policies(namespace: pulumi.Input[str], api_cidrs: Sequence[str], parent: pulumi.Resource) -> list:
    made = []
    for name, pod_labels, (ingress, egress) in (
        ("prometheus", PROMETHEUS_PODS, prometheus_rules(api_cidrs)),
        ("alertmanager", ALERTMANAGER_PODS, alertmanager_rules()),
        ("grafana", GRAFANA_PODS, grafana_rules(api_cidrs)),
        ("prometheus-operator", OPERATOR_PODS, operator_rules(api_cidrs)),
        ("kube-state-metrics", KUBE_STATE_METRICS_PODS, kube_state_metrics_rules(api_cidrs)),
    ):
        made.append(network_policy(f"{name}-netpol", namespace, pod_labels, parent, ingress=ingress, egress=egress, component=name))
    return made
