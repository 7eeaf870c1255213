"""Thanos Store Gateway (StatefulSet): serves the blocks in the bucket to Query."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.thanos.common import COMMON_FLAGS, GRPC, GRPC_PORT, HTTP, HTTP_PORT, OBJSTORE_FLAG, OBJSTORE_VOLUME_MOUNT, Build, container, data_mount, disruption_budget, service, service_monitor, statefulset

STORE = "thanos-store"


def store_flags() -> list[str]:
    return ["store", *COMMON_FLAGS, f"--grpc-address=0.0.0.0:{GRPC_PORT}", "--data-dir=/var/thanos/store", OBJSTORE_FLAG]


def build_store(build: Build) -> k8s.apps.v1.StatefulSet:
    thanos = build.thanos
    workload = statefulset(
        build,
        STORE,
        thanos.store_replicas,
        container(STORE, thanos.image, store_flags(), [HTTP, GRPC], [data_mount("/var/thanos/store"), OBJSTORE_VOLUME_MOUNT], thanos.store_resources.as_k8s()),
        thanos.store_storage_size,
        # Store replicas are independent readers: start them all at once.
        parallel=True,
    )
    # Headless: its SRV record (_grpc._tcp.thanos-store) gives Query every replica.
    service(build, STORE, [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
    ], headless=True)
    disruption_budget(build, STORE, thanos.store_replicas)
    service_monitor(build, STORE)
    return workload
