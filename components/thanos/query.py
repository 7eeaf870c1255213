"""Thanos Query (Deployment, HA): fans out to the sidecars, the Store Gateway, the Ruler and
Receive (when on) and any ``thanosStoreEndpoints`` (other clusters), deduplicating HA pairs."""

from __future__ import annotations

import json
from typing import Any

import pulumi_kubernetes as k8s

from components.prometheus_stack import PROMETHEUS_REPLICA_LABEL, RELEASE_NAME
from components.thanos.common import (
    COMMON_FLAGS, GRPC, GRPC_PORT, HTTP, POD_SECURITY_CONTEXT, QUERY, QUERY_SERVICE_PORT, Build, container, disruption_budget, pod_options, selector, service, service_monitor,
)
from components.thanos.receive import RECEIVE, RECEIVE_REPLICA_LABEL
from components.thanos.ruler import RULER_REPLICA_LABEL, RULER_SERVICE, ruler_enabled
from components.thanos.settings import ThanosSettings
from components.thanos.store import STORE
from core.k8s import deployment_with_service


# kube-prometheus-stack's `prometheus.thanosService` renders a headless Service named
# "<fullname>-thanos-discovery" (templates/prometheus/serviceThanosSidecar.yaml) with a port
# named "grpc"; fullnameOverride is RELEASE_NAME, so its SRV record names every sidecar.
SIDECAR_SERVICE = f"{RELEASE_NAME}-thanos-discovery"

# The coarsest resolution an instant query may read when it does not ask (the Ruler never does).
INSTANT_MAX_SOURCE_RESOLUTION = "1h"


def query_url(namespace: str) -> str:
    return f"http://{QUERY}.{namespace}.svc:{QUERY_SERVICE_PORT}"


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
        *COMMON_FLAGS,
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
    # ... and so do instant queries. The Thanos Ruler evaluates the window-long SLO budgets
    # (components/slo/rules.py split_long_windows) as instant queries through Query, and an
    # instant query without max_source_resolution reads raw blocks only: Thanos v0.42.4
    # cmd/thanos/query.go:121 (hidden flag, default 0s, "1h can be a good value if you use
    # instant queries over time ranges that incorporate times outside of your raw-retention"),
    # applied in pkg/api/query/v1.go parseDownsamplingParamMillis only while
    # --query.auto-downsampling is on. The Compactor deletes raw blocks after thanosRetentionRaw
    # (15d prod, 7d staging), so a 30d budget would silently cover 15 (or 7) days. With 1h the
    # Store Gateway serves the coarsest block up to 1h for each stretch and fills the gaps with
    # finer ones (pkg/store/bucket.go bucketBlockSet.getFor), so recent data stays raw.
    flags.append(f"--query.instant.default.max_source_resolution={INSTANT_MAX_SOURCE_RESOLUTION}")
    return flags


def build_query(build: Build) -> k8s.apps.v1.Deployment:
    thanos = build.thanos
    deployment, _ = deployment_with_service(
        QUERY,
        build.wiring.namespace,
        container(QUERY, thanos.image, build.namespace.apply(lambda n: query_flags(n, thanos)), [HTTP, GRPC], [], thanos.query_resources.as_k8s()),
        [],
        build.parent,
        replicas=thanos.query_replicas,
        pod_labels=selector(QUERY),
        strategy=k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1)),
        volumes=[],
        pod_security_context=POD_SECURITY_CONTEXT,
        with_service=False,  # service() below, like every Thanos part's
        **pod_options(build, QUERY, thanos.query_replicas),
    )
    service(build, QUERY, [
        {"name": "http", "port": QUERY_SERVICE_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
    ], headless=False)
    disruption_budget(build, QUERY, thanos.query_replicas)
    service_monitor(build, QUERY)
    return deployment
