"""The e2e's own pieces that need no Go build: reading the engine's JSON, stopping by PID, the
build cache key. `make e2e` runs the real thing; these keep its helpers honest in `make test`."""

from __future__ import annotations

import subprocess
import time

from e2e import build, checks
from e2e.processes import ProcessGroup, stop_pid

STACK = "urn:pulumi:dev::dataops-monitoring::pulumi:pulumi:Stack::dataops-monitoring-dev"
COMPONENT = "urn:pulumi:dev::dataops-monitoring::dataops:monitoring:Thanos::thanos"
CHILD = "urn:pulumi:dev::dataops-monitoring::dataops:monitoring:Thanos$kubernetes:apps/v1:StatefulSet::thanos-compact"


def preview(*steps):
    return {"steps": list(steps)}


def step(op, urn, parent, resource_type):
    return {"op": op, "urn": urn, "newState": {"urn": urn, "type": resource_type, "parent": parent}}


def test_preview_resources_are_type_name_and_parent_like_the_render():
    document = preview(
        step("create", STACK, "", "pulumi:pulumi:Stack"),
        step("create", COMPONENT, STACK, "dataops:monitoring:Thanos"),
        step("create", CHILD, COMPONENT, "kubernetes:apps/v1:StatefulSet"),
    )
    assert checks.preview_resources(document) == {
        ("dataops:monitoring:Thanos", "thanos", ""),
        ("kubernetes:apps/v1:StatefulSet", "thanos-compact", "dataops:monitoring:Thanos::thanos"),
    }
    render = {"resources": [
        {"type": "dataops:monitoring:Thanos", "name": "thanos", "parent": ""},
        {"type": "kubernetes:apps/v1:StatefulSet", "name": "thanos-compact", "parent": "dataops:monitoring:Thanos::thanos"},
    ]}
    assert checks.render_resources(render) == checks.preview_resources(document)
    render["resources"][1]["parent"] = ""  # a resource under another parent is another resource
    assert checks.render_resources(render) != checks.preview_resources(document)


def test_changed_steps_leave_out_unchanged_resources_and_the_stack():
    document = preview(
        step("same", COMPONENT, STACK, "dataops:monitoring:Thanos"),
        step("update", CHILD, COMPONENT, "kubernetes:apps/v1:StatefulSet"),
        step("update", STACK, "", "pulumi:pulumi:Stack"),
    )
    assert checks.changed_steps(document) == {("kubernetes:apps/v1:StatefulSet", "thanos-compact"): "update"}


def test_a_recorded_process_of_the_run_is_stopped_and_a_stranger_is_not(tmp_path):
    (tmp_path / "logs").mkdir()
    group = ProcessGroup(tmp_path)
    ours = group.start("sleeper", ["bash", "-c", "sleep 60; true", str(tmp_path)])
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        assert group.check_running() == []
        # A PID whose command line does not name the run folder (a reused PID) is left alone.
        assert stop_pid(stranger.pid, str(tmp_path)) is False
        assert stranger.poll() is None
        assert group.stop_all() == ["sleeper"]
        deadline = time.monotonic() + 10
        while ours.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours.poll() is not None
        assert not (tmp_path / "pids.json").exists()
    finally:
        stranger.kill()
        stranger.wait()
        ours.kill()
        ours.wait()


def test_a_second_run_finds_what_a_killed_first_run_left(tmp_path):
    (tmp_path / "logs").mkdir()
    first = ProcessGroup(tmp_path).start("etcd", ["bash", "-c", "sleep 60; true", str(tmp_path)])
    try:
        # The first run's Python process is gone; a new one reads the same record.
        assert ProcessGroup(tmp_path).stop_all() == ["etcd"]
        first.wait(timeout=10)
    finally:
        first.kill()
        first.wait()


def test_the_cache_key_changes_with_the_wrapper_module(tmp_path, monkeypatch):
    tool = build.GoTool(name="demo", version="v1.0.0", binaries={"demo": "."})
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "go.mod").write_text("module demo\n")
    monkeypatch.setattr(build, "GOMOD_DIR", tmp_path)
    before = build.tool_dir(tool)
    assert before.name.startswith("v1.0.0-")
    (tmp_path / "demo" / "go.mod").write_text("module demo\n\nrequire x v1\n")
    assert build.tool_dir(tool) != before


def test_every_tool_has_its_wrapper_module():
    for tool in build.TOOLS:
        assert (build.GOMOD_DIR / tool.name / "go.mod").exists(), tool.name
        assert (build.GOMOD_DIR / tool.name / "go.sum").exists(), tool.name


def test_tool_versions_lists_the_live_go_programs_as_built():
    """tools/tool-versions.txt names every program `make tools` builds, at the version built."""
    listed = dict(
        line.split(":", 1)[1].split()
        for line in (build.GOMOD_DIR.parent.parent / "tools" / "tool-versions.txt").read_text().splitlines()
        if line.startswith("#   go:")
    )
    assert listed == {tool.name: tool.version for tool in build.TOOLS if tool.group == "live"}
