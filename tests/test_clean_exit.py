"""Bad input ends with the settings message alone, every time.

An event loop left open on the error path is closed by the garbage collector at interpreter
exit, sometimes after its self-pipe socket, and asyncio then prints "Exception ignored in
BaseEventLoop.__del__ ... Invalid file descriptor: -1" under the clean message (seen in about
1 run of 25). The render closes the loop on that path; the in-process test checks the cause
directly, the repeated one the symptom.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tools import render
from tools.mock_engine import ROOT
from tools.stack_files import stack_file as sample_stack_file  # the sample under tests/stacks/samples (tests/conftest.py)

RUNS = 25  # catches a 1-in-25 failure with probability 1 - (24/25)**25 = 0.64; the in-process tests check its cause every time


@pytest.fixture()
def unprefixed_key_stack(tmp_path):
    """A valid stack file plus one key without the project prefix: a problem of the file alone,
    reported after a complete program run (the path that left the loop open)."""
    path = tmp_path / "Pulumi.trial.yaml"
    path.write_text(sample_stack_file("staging").read_text(encoding="utf-8").rstrip("\n") + "\n  prometheusRetention: 3d\n", encoding="utf-8")
    return path


@pytest.fixture()
def bad_setting_stack(tmp_path):
    """A setting the program itself rejects (raised inside the program run)."""
    path = tmp_path / "Pulumi.trial.yaml"
    path.write_text("config:\n  dataops-monitoring:environment: staging\n  dataops-monitoring:prometheusReplicas: many\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("stack_file", ["unprefixed_key_stack", "bad_setting_stack"])
def test_the_error_path_leaves_no_open_event_loop(stack_file, request, tmp_path, capsys):
    path = request.getfixturevalue(stack_file)
    assert render.main(["staging", "--stack-file", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "Invalid stack configuration" in capsys.readouterr().err
    with pytest.raises(RuntimeError):
        asyncio.get_event_loop()  # closed and unset: nothing left for the garbage collector


def test_a_later_run_gets_a_fresh_loop(bad_setting_stack, tmp_path, capsys, staging_run):
    assert render.main(["staging", "--stack-file", str(bad_setting_stack), "--out", str(tmp_path / "bad")]) == 2
    assert render.main(["staging", "--out", str(tmp_path / "good")]) == 0
    assert (tmp_path / "good" / "resources.json").is_file()


def test_the_message_is_never_followed_by_a_traceback(unprefixed_key_stack, tmp_path):
    for run in range(RUNS):
        proc = subprocess.run(
            [sys.executable, "-m", "tools.render", "staging", "--stack-file", str(unprefixed_key_stack), "--out", str(tmp_path / "out")],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONHASHSEED": str(run)},
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.startswith("Invalid stack configuration (1 problem):"), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, f"run {run}: {proc.stderr[-3000:]}"
