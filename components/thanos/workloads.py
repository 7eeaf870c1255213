"""Thanos workloads as data: names, ports, flags and pod specs of Query, Store Gateway,
Compactor, Receive and the Ruler (``__init__.py`` turns them into resources)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import pulumi

from components.prometheus_stack import PROMETHEUS_REPLICA_LABEL, RELEASE_NAME
from components.thanos.settings import ThanosSettings
from core.k8s import MANAGED_BY
from core.rules import RULE_SELECTOR_LABELS, RULER_LABELS

OBJSTORE_SECRET = "thanos-objstore"
OBJSTORE_KEY = "objstore.yml"
OBJSTORE_MOUNT = "/etc/thanos"

QUERY, STORE, COMPACT, RECEIVE = "thanos-query", "thanos-store", "thanos-compact", "thanos-receive"

HTTP_PORT = 10902  # every Thanos component: metrics, /-/healthy, /-/ready, UI
GRPC_PORT = 10901  # StoreAPI
QUERY_SERVICE_PORT = 9090  # Thanos Query's Service speaks the Prometheus HTTP API on the usual port
REMOTE_WRITE_PORT = 19291

# kube-prometheus-stack's `prometheus.thanosService` renders a headless Service named
# "<fullname>-thanos-discovery" (templates/prometheus/serviceThanosSidecar.yaml) with a port
# named "grpc"; fullnameOverride is RELEASE_NAME, so its SRV record names every sidecar.
SIDECAR_SERVICE = f"{RELEASE_NAME}-thanos-discovery"
# Receive's own external label per replica; Query deduplicates on it like on prometheus_replica.
RECEIVE_REPLICA_LABEL = "receive_replica"

# Thanos Ruler, run by the operator from a ThanosRuler CR (CRD shipped with the chart). The
# operator names its governing headless Service "thanos-ruler-operated" (ports web 10902, grpc
# 10901), labels it operated-thanos-ruler=true, sets the external label thanos_ruler_replica per
# replica and drops it from alerts (prometheus-operator pkg/thanos/statefulset.go).
RULER = "thanos-ruler"
RULER_NAME = "dataops"
RULER_SERVICE = "thanos-ruler-operated"
RULER_REPLICA_LABEL = "thanos_ruler_replica"
# PrometheusRules for the Ruler carry RULE_SELECTOR_LABELS and RULER_LABELS (core.rules);
# Prometheus' ruleSelector excludes RULER_LABELS, so a rule is evaluated by exactly one of them.
RULER_RULE_LABELS = {**RULE_SELECTOR_LABELS, **RULER_LABELS}
RULER_EVALUATION_INTERVAL = "1m"
# Local TSDB on the pod's emptyDir (the operator's default without spec.storage): recorded
# blocks go to the bucket every 2h, so a restart loses at most the last 2h of budget samples,
# which Query serves again from the next evaluation on. No volume: nothing to protect or migrate.
RULER_RETENTION = "2d"

# Requests and limits per component (no settings yet: sized for the guide's platform).
RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    QUERY: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    STORE: {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}},
    COMPACT: {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    RECEIVE: {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
    RULER: {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}
RECEIVE_STORAGE_SIZE = "50Gi"
RECEIVE_TSDB_RETENTION = "1d"  # blocks are shipped to the bucket every 2h; local data is a buffer

# The image runs as uid 1001 (thanos Dockerfile: `USER 1001`).
RUN_AS_USER = 1001


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": MANAGED_BY["app.kubernetes.io/part-of"]}


def _probe(path: str, initial_delay: int, failure_threshold: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": failure_threshold,
    }


def _container(component: str, image: str, args: pulumi.Input, ports: list[dict[str, Any]], mounts: list[dict[str, Any]], env: Optional[list] = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": component.removeprefix("thanos-"),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
        "resources": {k: dict(v) for k, v in RESOURCES[component].items()},
        "livenessProbe": _probe("/-/healthy", 30, 6),
        "readinessProbe": _probe("/-/ready", 10, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
    return container


def _pod_spec(component: str, container: dict[str, Any], volumes: list[dict[str, Any]], spread: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 120,
        # Thanos finds its peers by DNS SRV and reads the bucket with S3 keys: no Kubernetes API token.
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    if spread:
        # Replicas on different nodes when possible, so one node loss keeps the query path up.
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": _selector(component)}},
                    }
                ]
            }
        }
    return spec


_HTTP = {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}
_GRPC = {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"}
_OBJSTORE_VOLUME = {"name": "objstore", "secret": {"secretName": OBJSTORE_SECRET}}
_OBJSTORE_MOUNT = {"name": "objstore", "mountPath": OBJSTORE_MOUNT, "readOnly": True}
_OBJSTORE_FLAG = f"--objstore.config-file={OBJSTORE_MOUNT}/{OBJSTORE_KEY}"
_COMMON_FLAGS = ("--log.level=info", "--log.format=logfmt", f"--http-address=0.0.0.0:{HTTP_PORT}")


def ruler_enabled(thanos: ThanosSettings) -> bool:
    """Whether this stack runs the Thanos Ruler: with Thanos, and only while Query sees this
    cluster alone. With ``thanosStoreEndpoints`` Query is global: the Ruler's 30d sums
    (``sum(increase(...))``) would add up every cluster's series, so the budgets stay in
    Prometheus (over its retention) instead."""
    return thanos.enabled and not thanos.store_endpoints


def query_endpoints(namespace: str, thanos: ThanosSettings) -> list[str]:
    """Store API endpoints of Query: sidecars, Store Gateway, Ruler, Receive by SRV; then other clusters."""
    srv = [SIDECAR_SERVICE, STORE] + ([RULER_SERVICE] if ruler_enabled(thanos) else []) + ([RECEIVE] if thanos.receive_enabled else [])
    return [f"dnssrv+_grpc._tcp.{service}.{namespace}.svc.cluster.local" for service in srv] + list(thanos.store_endpoints)


def endpoint_config(namespace: str, thanos: ThanosSettings) -> dict[str, Any]:
    """``--endpoint.sd-config`` content (Thanos v0.42 deprecates the repeated ``--endpoint`` flag).

    JSON is YAML, so one line in the container args; ``dnssrv+``/``dns+`` addresses are
    re-resolved by Query, which is why none is ``strict`` (Thanos refuses strict SD entries).
    """
    return {"endpoints": [{"address": address} for address in query_endpoints(namespace, thanos)]}


def query_flags(namespace: str, thanos: ThanosSettings) -> list[str]:
    """Thanos Query: dedup HA pairs, discover sidecars/store/receive by SRV, add other clusters."""
    flags = [
        "query",
        *_COMMON_FLAGS,
        f"--grpc-address=0.0.0.0:{GRPC_PORT}",
        f"--query.replica-label={PROMETHEUS_REPLICA_LABEL}",
    ]
    if thanos.receive_enabled:
        flags.append(f"--query.replica-label={RECEIVE_REPLICA_LABEL}")
    if ruler_enabled(thanos):
        # The Ruler's replicas record the same series; deduplicate them like Prometheus pairs.
        flags.append(f"--query.replica-label={RULER_REPLICA_LABEL}")
    flags.append("--endpoint.sd-config=" + json.dumps(endpoint_config(namespace, thanos), sort_keys=True, separators=(",", ":")))
    # Long ranges read 5m/1h downsampled blocks instead of raw samples.
    flags.append("--query.auto-downsampling")
    return flags


def ruler_spec(namespace: str, thanos: ThanosSettings, replicas: int, external_labels: Mapping[str, str]) -> dict[str, Any]:
    """ThanosRuler spec (monitoring.coreos.com/v1, field names from prometheus-operator's thanos_types.go).

    Queries go to Thanos Query (deduplicated, long-term); alerts to every Alertmanager replica
    by SRV on the chart's governing Service (port name http-web, the chart's portName).
    """
    return {
        "image": thanos.image,
        "replicas": replicas,
        "queryEndpoints": [f"{QUERY}.{namespace}.svc:{QUERY_SERVICE_PORT}"],
        "alertmanagersUrl": [f"dnssrv+http://_http-web._tcp.alertmanager-operated.{namespace}.svc.cluster.local"],
        # Only the rules meant for it, and only from this namespace (no ruleNamespaceSelector).
        "ruleSelector": {"matchLabels": dict(RULER_RULE_LABELS)},
        "evaluationInterval": RULER_EVALUATION_INTERVAL,
        "labels": dict(external_labels),
        "retention": RULER_RETENTION,
        "objectStorageConfig": {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY},
        "resources": {k: dict(v) for k, v in RESOURCES[RULER].items()},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def store_flags() -> list[str]:
    return ["store", *_COMMON_FLAGS, f"--grpc-address=0.0.0.0:{GRPC_PORT}", "--data-dir=/var/thanos/store", _OBJSTORE_FLAG]


def compact_flags(thanos: ThanosSettings) -> list[str]:
    # Downsampling is on by default in Thanos (there is no --downsampling flag; only
    # --downsampling.disable turns it off), so it is deliberately not passed here.
    return [
        "compact",
        *_COMMON_FLAGS,
        "--wait",
        "--wait-interval=5m",
        "--data-dir=/var/thanos/compact",
        _OBJSTORE_FLAG,
        f"--retention.resolution-raw={thanos.retention_raw}",
        f"--retention.resolution-5m={thanos.retention_5m}",
        f"--retention.resolution-1h={thanos.retention_1h}",
        "--delete-delay=48h",
    ]


def receive_hashrings(namespace: str, replicas: int) -> str:
    endpoints = [f"{RECEIVE}-{i}.{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}" for i in range(replicas)]
    return json.dumps([{"hashring": "default", "endpoints": endpoints}], sort_keys=True)


def receive_flags(namespace: str, replicas: int = 1) -> list[str]:
    return [
        "receive",
        *_COMMON_FLAGS,
        f"--grpc-address=0.0.0.0:{GRPC_PORT}",
        f"--remote-write.address=0.0.0.0:{REMOTE_WRITE_PORT}",
        "--tsdb.path=/var/thanos/receive",
        f"--tsdb.retention={RECEIVE_TSDB_RETENTION}",
        _OBJSTORE_FLAG,
        f'--label={RECEIVE_REPLICA_LABEL}="$(POD_NAME)"',
        f"--receive.local-endpoint=$(POD_NAME).{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}",
        f"--receive.hashrings={receive_hashrings(namespace, replicas)}",
        "--receive.replication-factor=1",
    ]
