"""Thanos Compactor (StatefulSet, exactly one replica): compaction, downsampling, retention."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components.thanos.common import COMMON_FLAGS, HTTP, HTTP_PORT, OBJSTORE_FLAG, OBJSTORE_VOLUME_MOUNT, Build, container, data_mount, service, service_monitor, statefulset
from components.thanos.settings import ThanosSettings

COMPACT = "thanos-compact"
# EXACTLY one replica: the compactor is a singleton per bucket. Two compactors on one bucket
# compact and delete the same blocks concurrently, producing overlapping blocks that halt
# compaction (and can lose data); Thanos has no leader election for it.
REPLICAS = 1


def compact_flags(thanos: ThanosSettings) -> list[str]:
    # Downsampling is on by default in Thanos (there is no --downsampling flag; only
    # --downsampling.disable turns it off), so it is deliberately not passed here.
    return [
        "compact",
        *COMMON_FLAGS,
        "--wait",
        "--wait-interval=5m",
        "--data-dir=/var/thanos/compact",
        OBJSTORE_FLAG,
        f"--retention.resolution-raw={thanos.retention_raw}",
        f"--retention.resolution-5m={thanos.retention_5m}",
        f"--retention.resolution-1h={thanos.retention_1h}",
        "--delete-delay=48h",
    ]


def build_compact(build: Build) -> k8s.apps.v1.StatefulSet:
    thanos = build.thanos
    workload = statefulset(
        build,
        COMPACT,
        REPLICAS,
        container(COMPACT, thanos.image, compact_flags(thanos), [HTTP], [data_mount("/var/thanos/compact"), OBJSTORE_VOLUME_MOUNT], thanos.compact_resources.as_k8s()),
        thanos.compact_storage_size,
    )
    service(build, COMPACT, [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}], headless=True)
    service_monitor(build, COMPACT)
    return workload
