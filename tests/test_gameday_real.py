"""tools/gameday/real.py: real programs behind game-day targets, checked without starting any.

`make gameday` starts real Thanos (where `make tools` built it) for the Thanos Query, sidecar
and Store Gateway targets; here the pieces around it are checked on the prod render under the
mock engine: the scrape job of a real target keeps the emulated target's labels, the scenarios
stop and start the process instead of flipping the emulated target, the rendered flags become
loopback-only, and the run's list of real and emulated targets names each target once.
"""

from __future__ import annotations

import copy
import re

import pytest

from tools.gameday.configs import scrape_configs, write_openmetrics
from tools.gameday.real import bind, inventory, real_and_emulated, start_real_thanos, thanos_roles
from tools.loopback import localised
from tools.gameday.rendered import critical_alerts, from_run
from tools.gameday.runtime import Processes
from tools.gameday.scenarios import build_scenarios
from tests.gameday_world import ORIGIN, T0, world_of

TARGET_PORT = 9999


@pytest.fixture
def rendered(prod_run):
    return from_run("prod", prod_run)


@pytest.fixture
def world(rendered):
    return world_of(rendered)


class FakeProgram:
    """Stands for a RealProgram: records stop/start instead of signalling a process."""

    def __init__(self):
        self.calls: list[tuple[str, float]] = []

    def stop(self, t: float = 0.0) -> None:
        self.calls.append(("stop", t))

    def start(self, t: float = 0.0) -> None:
        self.calls.append(("start", t))


def _bind_thanos(world) -> dict[str, FakeProgram]:
    programs = {}
    for port, key in enumerate(k for keys in thanos_roles(world).values() for k in keys):
        programs[key] = FakeProgram()
        bind(world, key, f"127.0.0.1:{20000 + port}", f"Thanos v0 {key.split('-')[1]}", programs[key])
    return programs


def test_prod_has_the_thanos_targets_and_renders_their_flags(rendered, world):
    roles = thanos_roles(world)
    assert roles == {"query": ["thanos-query"], "sidecar": ["thanos-sidecar-0", "thanos-sidecar-1"],
                     "store": ["thanos-store-0", "thanos-store-1"]}
    assert rendered.thanos_args["query"][0] == "query" and rendered.thanos_args["store"][0] == "store"


def test_a_real_targets_scrape_job_carries_the_emulated_targets_labels(world):
    before = {key: copy.deepcopy(t.labels) for key, t in world.targets.items()}
    _bind_thanos(world)
    jobs = {j["job_name"]: j for j in scrape_configs(world.targets.values(), TARGET_PORT)}
    for key, target in world.targets.items():
        job = jobs[f"gameday-{key}"]
        (static,) = job["static_configs"]
        # The same job, instance, namespace, pod, service, endpoint and container labels either way.
        assert static["labels"] == {"job": target.job, **before[key]}, key
        assert {"job", "instance"} <= set(static["labels"]), key
        if target.address:
            assert static["targets"] == [target.address] and job["metrics_path"] == target.path == "/metrics"
        else:
            assert static["targets"] == [f"127.0.0.1:{TARGET_PORT}"] and job["metrics_path"] == f"/{key}{target.path}"
    assert {k for k, t in world.targets.items() if t.address} == {"thanos-query", "thanos-sidecar-0", "thanos-sidecar-1",
                                                                  "thanos-store-0", "thanos-store-1"}
    assert world.targets["thanos-query"].labels["instance"].startswith("10.42."), "the instance label is the pod's, not 127.0.0.1"


def test_a_real_target_serves_no_emulated_series_and_gets_no_backfilled_history(world, tmp_path):
    _bind_thanos(world)
    assert all(not t.series for t in world.targets.values() if t.address)
    write_openmetrics(world.targets.values(), ORIGIN, ORIGIN + 600, tmp_path / "h.om")
    text = (tmp_path / "h.om").read_text()
    assert 'job="thanos-query"' not in text and 'job="prometheus-stack-kube-prom-thanos-discovery"' not in text
    assert 'job="thanos-compact"' in text, "emulated Thanos parts keep their history"


def test_bind_refuses_an_address_off_loopback(world):
    with pytest.raises(ValueError):
        bind(world, "thanos-query", "0.0.0.0:10902", "Thanos", FakeProgram())
    assert "thanos-query" not in world.programs


def test_the_down_scenarios_stop_and_start_the_real_processes(world, rendered):
    programs = _bind_thanos(world)
    scenarios = {s.name: s for s in build_scenarios(world, critical_alerts(rendered), T0)}
    query, sidecars = scenarios["thanos-query-down"], scenarios["thanos-sidecars-down"]
    assert query.uses == {"thanos-query"} and sidecars.uses == {"thanos-sidecar-0", "thanos-sidecar-1"}
    assert "real Thanos Query process" in query.note and "SIGTERM" in query.note
    assert "real Thanos sidecar processes" in sidecars.note
    query.brk(T0)
    sidecars.brk(T0)
    assert not any(t.down for t in world.targets.values()), "a real target is stopped, not flipped on the emulated server"
    query.restore(T0 + 200)
    sidecars.restore(T0 + 210)
    assert programs["thanos-query"].calls == [("stop", T0), ("start", T0 + 200)]
    for key in ("thanos-sidecar-0", "thanos-sidecar-1"):
        assert programs[key].calls == [("stop", T0), ("start", T0 + 210)]
    assert programs["thanos-store-0"].calls == [], "no scenario touches the Store Gateways"


def test_without_real_programs_the_scenarios_flip_the_emulated_targets(world, rendered):
    scenarios = {s.name: s for s in build_scenarios(world, critical_alerts(rendered), T0)}
    scenarios["thanos-query-down"].brk(T0)
    assert world.targets["thanos-query"].down
    scenarios["thanos-query-down"].restore(T0 + 1)
    assert not world.targets["thanos-query"].down


def test_the_rendered_flags_become_loopback_only(rendered):
    flags = localised(rendered.thanos_args["query"], http_address="127.0.0.1:1", grpc_address="127.0.0.1:2",
                      endpoint_sd_config='{"endpoints":[]}')
    assert "--http-address=127.0.0.1:1" in flags and "--grpc-address=127.0.0.1:2" in flags
    assert not any("0.0.0.0" in f or "svc.cluster.local" in f for f in flags)
    # Everything else is the rendered flag, unchanged and in order.
    kept = [f for f in rendered.thanos_args["query"] if not f.startswith(("--http-address=", "--grpc-address=", "--endpoint.sd-config="))]
    assert [f for f in flags if not f.startswith(("--http-address=", "--grpc-address=", "--endpoint.sd-config="))] == kept
    assert "--query.auto-downsampling" in kept
    with pytest.raises(ValueError, match="no loopback value"):
        localised(rendered.thanos_args["store"], http_address="127.0.0.1:1", grpc_address="127.0.0.1:2", data_dir="/tmp/x")
    with pytest.raises(ValueError, match="not a loopback"):
        localised(["--http-address=0.0.0.0:10902"], http_address="0.0.0.0:1")


def test_the_list_of_real_and_emulated_targets_names_each_target_once(world):
    _bind_thanos(world)
    real, emulated = real_and_emulated(world)
    real_keys = [k for keys in real.values() for k in keys]
    assert sorted(real_keys) == ["thanos-query", "thanos-sidecar-0", "thanos-sidecar-1", "thanos-store-0", "thanos-store-1"]
    assert sorted(real_keys + emulated) == sorted(world.targets) and not set(real_keys) & set(emulated)
    assert {"minio", "spark-operator", "airflow-statsd", "thanos-compact", "thanos-ruler-0"} <= set(emulated)
    text = inventory(world)
    real_line, emulated_line, why = text.splitlines()
    assert real_line.startswith("Real programs (5 targets): ") and emulated_line.startswith(f"Emulated ({len(emulated)} targets")
    for key in world.targets:
        assert len(re.findall(rf"(?<![\w-]){re.escape(key)}(?![\w-])", real_line + "\n" + emulated_line)) == 1, key
    assert "MinIO is AGPL" in why


def test_thanos_not_built_keeps_the_emulated_targets_and_says_so(world, rendered, tmp_path):
    servers: list = []
    start_real_thanos(world, rendered, tmp_path, Processes(), servers, thanos=None)
    assert not any(t.address for t in world.targets.values()) and not world.programs and not servers
    text = inventory(world)
    assert text.startswith("Real programs (0 targets): none")
    assert "Thanos is not built" in text and "thanos-query" in text.splitlines()[1]
