"""The game day's local control plane and the real kube-state-metrics behind its target.

Where the e2e's control plane is built (`make e2e-build`), the game day starts one (e2e/cluster.py:
etcd, kube-apiserver, controller manager, scheduler and kwok on 127.0.0.1) for the real programs
that need an API server: the spark-operator (tools/gameday/real_spark.py) and kube-state-metrics.

Its Nodes are the world's (``NODES``, with the allocatable and capacity the emulated target
reported; kwok keeps them Ready) instead of the e2e's three large fake Nodes, and it holds the
world's workload pods (``PODS``, with their limits, Running on their Nodes), the Trino worker
Deployment and the MinIO StatefulSet: what the emulated kube-state-metrics target reported.
kube-state-metrics v2.20.0 (`make tools`) then runs with the chart's collectors and our
custom-resource-state config as the stack renders it (tools/kube_state_metrics.py), so the
SparkApplications the real operator runs show up too.

STAND-IN, the kubelet's part (kwok runs no container): the oom-kills scenario writes the pod
status a kubelet reports after a container was OOM-killed twice and restarted (restartCount 2,
last state terminated by OOMKilled, exit code 137); restore replaces the pods, as a rollout of
the fixed workload does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from e2e.cluster import CONTROL_PLANE, NODE_NAMES, LocalCluster
from e2e.kube import Kube, timestamp, wait_for
from tools import kube_state_metrics as ksm
from tools.gameday.common import log
from tools.gameday.real import RealProgram, bind
from tools.gameday.rendered import Rendered
from tools.gameday.runtime import Processes
from tools.gameday.world import NODES, PODS, World
from tools.loopback import free_port

KEY = "kube-state-metrics"
KSM_VERSION = "v2.20.0"
STATUS_PATCH = "application/strategic-merge-patch+json"
# The emulated target's Nodes: (resource, unit, allocatable, capacity) as world.py reports them.
NODE_RESOURCES = {"cpu": ("31500m", "32"), "memory": (str(120 << 30), str(128 << 30))}
WORKLOADS = (("trino", "Deployment", "trino-worker", 3), ("minio", "StatefulSet", "minio", 4))


def missing_control_plane() -> list[str]:
    import os

    from e2e.build import binary_path

    return [f"{name} (`make e2e-build`)" for name in CONTROL_PLANE if not os.access(binary_path(name), os.X_OK)]


class _ClusterStopper:
    """Stops the control plane (its processes by their recorded PIDs) with the game day's servers."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster

    def stop(self) -> None:
        self.cluster.stop()


def start_control_plane(world: World, work: Path, servers: list) -> Optional[LocalCluster]:
    """The local control plane with the world's Nodes, or None (and the world says why)."""
    missing = missing_control_plane()
    if missing:
        world.note_emulated(f"no local control plane (not built: {', '.join(missing)}): spark-operator and kube-state-metrics emulated")
        return None
    from e2e.build import binary_path

    cluster = LocalCluster(work / "cluster", {name: binary_path(name) for name in CONTROL_PLANE})
    servers.append(_ClusterStopper(cluster))
    cluster.start()
    kube = cluster.kube
    for node in NODES:
        kube.create("/api/v1/nodes", _node(node))
    wait_for(lambda: all(_ready(kube, node) for node in NODES), 60, "the world's Nodes Ready (kwok)")
    for node in NODE_NAMES:  # the e2e's own fake Nodes: not part of this world
        kube.request("DELETE", f"/api/v1/nodes/{node}")
    log(f"local control plane: {cluster.timings.get('control_plane_start_seconds')} s, Nodes {', '.join(NODES)}")
    return cluster


def _node(name: str) -> dict:
    allocatable = {resource: values[0] for resource, values in NODE_RESOURCES.items()}
    capacity = {resource: values[1] for resource, values in NODE_RESOURCES.items()}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}},
        "spec": {},
        "status": {"allocatable": {**allocatable, "pods": "110"}, "capacity": {**capacity, "pods": "110"}},
    }


def _ready(kube: Kube, name: str) -> bool:
    node = kube.get(f"/api/v1/nodes/{name}")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def _namespace(kube: Kube, name: str) -> None:
    """The namespace, once its default ServiceAccount exists (admission refuses pods before)."""
    kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lambda: kube.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"), 60, f"the default ServiceAccount of {name}")


def pod(namespace: str, name: str, container: str, cpu: int, memory: int, node: str) -> dict:
    limits = {"cpu": str(cpu), "memory": str(memory)}
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node, "automountServiceAccountToken": False, "restartPolicy": "Always",
                 "containers": [{"name": container, "image": "registry.invalid/dataops/gameday:1",
                                 "resources": {"limits": limits, "requests": limits}}]},
    }


def oom_killed_twice(container: str, image: str, started: str, now: str) -> dict:
    """The status a kubelet reports for a pod whose container was OOM-killed twice and runs again."""
    return {"containerStatuses": [{
        "name": container, "image": image, "imageID": "", "ready": True, "started": True, "restartCount": 2,
        "state": {"running": {"startedAt": now}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": now}},
    }]}


class KubeWorld:
    """The world's pods on the control plane: what the oom-kills scenario changes."""

    def __init__(self, kube: Kube):
        self.kube = kube
        self.pods = {name: (namespace, container, cpu, memory, NODES[i % len(NODES)])
                     for i, (namespace, name, container, cpu, memory) in enumerate(PODS)}
        self.errors: list[str] = []

    def create(self) -> None:
        for namespace in sorted({p[0] for p in self.pods.values()} | {w[0] for w in WORKLOADS} | {"monitoring"}):
            _namespace(self.kube, namespace)
        for name, (namespace, container, cpu, memory, node) in self.pods.items():
            self.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod(namespace, name, container, cpu, memory, node))
        for namespace, kind, name, replicas in WORKLOADS:
            labels = {"app": name}
            template = {"metadata": {"labels": labels}, "spec": {"automountServiceAccountToken": False, "containers": [
                {"name": "main", "image": "registry.invalid/dataops/gameday:1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}
            spec = {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template}
            if kind == "StatefulSet":
                spec["serviceName"] = name
            self.kube.create(f"/apis/apps/v1/namespaces/{namespace}/{kind.lower()}s", {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})

    def oom_kill(self, names: list[str]) -> None:
        now = timestamp()
        for name in names:
            namespace, container = self.pods[name][0], self.pods[name][1]
            path = f"/api/v1/namespaces/{namespace}/pods/{name}"
            try:
                current = self.kube.get(path)
                started = current.get("status", {}).get("startTime", now)
                image = current["spec"]["containers"][0]["image"]
                self.kube.request("PATCH", f"{path}/status", {"status": oom_killed_twice(container, image, started, now)}, content_type=STATUS_PATCH)
            except Exception as err:  # noqa: BLE001 - reported with the run
                self.errors.append(f"{namespace}/{name}: {err}")

    def replace(self, names: list[str]) -> None:
        """The fixed workload rolls out: each pod replaced by a new one (new name, no restarts)."""
        for name in names:
            namespace, container, cpu, memory, node = self.pods[name]
            try:
                self.kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}?gracePeriodSeconds=0")
                self.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod(namespace, f"{name}-r", container, cpu, memory, node))
            except Exception as err:  # noqa: BLE001 - reported with the run
                self.errors.append(f"{namespace}/{name}: {err}")


def start_real_kube_state_metrics(world: World, rendered: Rendered, cluster: LocalCluster, work: Path, procs: Processes) -> None:
    """Real kube-state-metrics on ``cluster`` for the world's target; or the world says why not."""
    import os

    from e2e.build import binary_path

    if KEY not in world.targets:
        return
    binary = binary_path(KEY)
    if not os.access(binary, os.X_OK):
        world.note_emulated(f"kube-state-metrics emulated: not built (`make tools`): {binary}")
        return
    pods = KubeWorld(cluster.kube)
    pods.create()
    config = work / "ksm-customresourcestate.yaml"
    config.write_text(yaml.safe_dump(rendered.ksm_custom_resource_config or {"spec": {"resources": []}}))
    port, telemetry = free_port(), free_port()
    program = RealProgram(f"kube-state-metrics {KSM_VERSION}", ksm.args(str(binary), port, telemetry, cluster.kubeconfig, config),
                          work / "kube-state-metrics.log", f"http://127.0.0.1:{port}/healthz", procs)
    program.start()
    world.workloads[KEY] = pods
    bind(world, KEY, f"127.0.0.1:{port}",
         f"kube-state-metrics {KSM_VERSION}, the chart's collectors and our custom-resource-state config, on the local control "
         "plane holding the world's Nodes and pods (OOM kills written as a kubelet reports them)", program)
    log(f"real kube-state-metrics {KSM_VERSION}: pid {program.proc.pid}")
