"""tools/gameday/real_k8s.py: the game day's control plane world and the oom-kills scenario on the
real kube-state-metrics, checked with a recording stand-in for the API server (nothing started)."""

from __future__ import annotations

import pytest

from tests.gameday_world import T0, world_of
from tools.gameday import real_k8s
from tools.gameday.rendered import critical_alerts, from_run
from tools.gameday.scenarios import build_scenarios
from tools.gameday.world import NODES, PODS



class RecordingKube:
    def __init__(self):
        self.calls: list[tuple[str, str, dict | None]] = []

    def create(self, path, body):
        self.calls.append(("POST", path, body))

    def get(self, path):
        return {"spec": {"containers": [{"image": "registry.invalid/dataops/gameday:1"}]}, "status": {"startTime": "2026-12-07T00:00:00Z"}}

    def exists(self, path):
        return True

    def request(self, method, path, body=None, content_type=""):
        self.calls.append((method, path, body))


def test_the_world_pods_carry_their_limits_on_their_nodes():
    kube = RecordingKube()
    world = real_k8s.KubeWorld(kube)
    world.create()
    pods = [body for method, path, body in kube.calls if method == "POST" and path.endswith("/pods")]
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods] == [(ns, name) for ns, name, *_ in PODS]
    for body, (_, _, container, cpu, memory) in zip(pods, PODS):
        (c,) = body["spec"]["containers"]
        assert c["name"] == container and c["resources"]["limits"] == {"cpu": str(cpu), "memory": str(memory)}
        assert body["spec"]["nodeName"] in NODES
    kinds = sorted((path.rsplit("/", 1)[-1], body["metadata"]["name"], body["spec"]["replicas"]) for method, path, body in kube.calls if "/apis/apps/" in path)
    assert kinds == [("deployments", "trino-worker", 3), ("statefulsets", "minio", 4)]


def test_an_oom_kill_is_written_as_the_kubelet_reports_it():
    status = real_k8s.oom_killed_twice("spark-kubernetes-executor", "img:1", "2026-12-07T00:00:00Z", "2026-12-07T01:00:00Z")
    (c,) = status["containerStatuses"]
    assert c["restartCount"] == 2 and "running" in c["state"]
    assert c["lastState"]["terminated"]["reason"] == "OOMKilled" and c["lastState"]["terminated"]["exitCode"] == 137


def test_the_node_reports_what_the_emulated_target_did():
    node = real_k8s._node("worker-1")
    assert node["status"]["allocatable"]["cpu"] == "31500m" and node["status"]["capacity"]["memory"] == str(128 << 30)
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


@pytest.fixture
def world(prod_run):
    rendered = from_run("prod", prod_run)
    return rendered, world_of(rendered)


def test_with_real_kube_state_metrics_the_oom_scenario_patches_and_replaces_pods(world):
    rendered, w = world
    kube = RecordingKube()
    w.workloads[real_k8s.KEY] = real_k8s.KubeWorld(kube)
    (oom,) = [s for s in build_scenarios(w, critical_alerts(rendered), T0) if s.name == "oom-kills"]
    oom.brk(T0)
    patched = [(path, body) for method, path, body in kube.calls if method == "PATCH"]
    assert [path.split("/pods/")[1] for path, _ in patched] == [f"{name}/status" for name in w.oom_pods[:3]]
    assert all(body["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled" for _, body in patched)
    oom.restore(T0 + 120)
    deleted = [path for method, path, _ in kube.calls if method == "DELETE"]
    created = [body["metadata"]["name"] for method, path, body in kube.calls if method == "POST"]
    assert len(deleted) == 3 and created == [f"{name}-r" for name in w.oom_pods[:3]]
    assert "real kube-state-metrics" in oom.note


def test_without_the_control_plane_the_world_says_why(world, tmp_path, monkeypatch):
    _, w = world
    monkeypatch.setattr(real_k8s, "missing_control_plane", lambda: ["etcd (`make e2e-build`)"])
    assert real_k8s.start_control_plane(w, tmp_path, []) is None
    assert "no local control plane" in w.emulated_note and "etcd" in w.emulated_note
