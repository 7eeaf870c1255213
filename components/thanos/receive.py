"""Thanos Receive (StatefulSet, only with ``thanosReceiveEnabled``): the remote-write target
that uploads the blocks instead of the sidecars."""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s

from components.thanos.common import COMMON_FLAGS, GRPC, GRPC_PORT, HTTP, HTTP_PORT, OBJSTORE_FLAG, OBJSTORE_VOLUME_MOUNT, Build, container, data_mount, service, service_monitor, statefulset

RECEIVE = "thanos-receive"
REMOTE_WRITE_PORT = 19291
STORAGE_SIZE = "50Gi"
TSDB_RETENTION = "1d"  # blocks are shipped to the bucket every 2h; local data is a buffer
REPLICAS = 1
# Receive's own external label per replica; Query deduplicates on it like on prometheus_replica.
RECEIVE_REPLICA_LABEL = "receive_replica"


def receive_remote_write_url(namespace: str) -> str:
    return f"http://{RECEIVE}.{namespace}.svc:{REMOTE_WRITE_PORT}/api/v1/receive"


def receive_hashrings(namespace: str, replicas: int) -> str:
    endpoints = [f"{RECEIVE}-{i}.{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}" for i in range(replicas)]
    return json.dumps([{"hashring": "default", "endpoints": endpoints}], sort_keys=True)


def receive_flags(namespace: str, replicas: int = REPLICAS) -> list[str]:
    return [
        "receive",
        *COMMON_FLAGS,
        f"--grpc-address=0.0.0.0:{GRPC_PORT}",
        f"--remote-write.address=0.0.0.0:{REMOTE_WRITE_PORT}",
        "--tsdb.path=/var/thanos/receive",
        f"--tsdb.retention={TSDB_RETENTION}",
        OBJSTORE_FLAG,
        f'--label={RECEIVE_REPLICA_LABEL}="$(POD_NAME)"',
        f"--receive.local-endpoint=$(POD_NAME).{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}",
        f"--receive.hashrings={receive_hashrings(namespace, replicas)}",
        "--receive.replication-factor=1",
    ]


def build_receive(build: Build) -> k8s.apps.v1.StatefulSet:
    pod_name = k8s.core.v1.EnvVarArgs(name="POD_NAME", value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")))
    workload = statefulset(
        build,
        RECEIVE,
        REPLICAS,
        container(
            RECEIVE,
            build.thanos.image,
            build.namespace.apply(receive_flags),
            [HTTP, GRPC, k8s.core.v1.ContainerPortArgs(name="remote-write", container_port=REMOTE_WRITE_PORT, protocol="TCP")],
            [data_mount("/var/thanos/receive"), OBJSTORE_VOLUME_MOUNT],
            build.thanos.receive_resources.as_k8s(),
            env=[pod_name],
        ),
        STORAGE_SIZE,
    )
    # Headless: SRV for Query, per-pod names for the hashring, A records for remote write.
    service(build, RECEIVE, [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "remote-write", "port": REMOTE_WRITE_PORT, "targetPort": "remote-write", "protocol": "TCP"},
    ], headless=True, publish_not_ready=True)
    service_monitor(build, RECEIVE)
    return workload
