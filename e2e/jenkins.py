"""The Jenkinsfile's own `sh` steps, run for real against the local cluster.

The steps are not retyped: the Groovy harness of tests/test_jenkinsfile.py evaluates the
Jenkinsfile for an event and records every `sh` step; the pulumi steps (and the `mkdir` they
write into) of a change request, of main (staging up, prod preview with its saved plan, prod
up with that plan) and of the nightly drift check run here in that order, in the project copy,
with the e2e's backend and cluster. Two kinds of step are left out, and said so: the CLI
version guard (our CLI is v3.274.0, the nearest the module proxy serves to the 3.272.0 pin, so
the guard would stop every run) and steps that only Jenkins has (docker, curl to the SCM, make
test/render/diff, which `make test` covers).
"""

from __future__ import annotations

import json
import subprocess
from typing import Callable

from e2e.pulumi_cli import PulumiCli

EVENTS = ("change_request", "main", "timer")


def recorded_steps() -> dict[str, list[str]]:
    """Event -> the `sh` commands the Jenkinsfile runs for it, from the Groovy harness."""
    from tests.test_jenkinsfile import EVENTS as HARNESS_EVENTS
    from tests.test_jenkinsfile import JENKINSFILE, run_runner

    # One job, one set of parameters: the nightly run uses the registry main deployed from (the
    # harness gives its main event a test registry, and the drift check would see that image change).
    events = {name: dict(HARNESS_EVENTS[name]) for name in EVENTS}
    events["timer"]["params"] = {**events["timer"].get("params", {}), **events["main"].get("params", {})}
    proc = run_runner(JENKINSFILE, [events[name] for name in EVENTS])
    if proc.returncode != 0:
        raise RuntimeError(f"the Groovy harness could not run the Jenkinsfile:\n{proc.stderr[-2000:]}")
    builds = dict(zip(EVENTS, json.loads(proc.stdout)))
    return {name: [r["command"].strip() for r in build["records"] if r["type"] == "sh"] for name, build in builds.items()}


def runnable(command: str) -> bool:
    if "pulumi version" in command:  # the CLI version guard (see the module docstring)
        return False
    return command.startswith("pulumi ") or command.startswith("mkdir -p build")


def run_event(pulumi: PulumiCli, event: str, commands: list[str], say: Callable[[str], None]) -> int:
    """Run the event's runnable steps in order; returns how many ran. A failing step fails."""
    steps = [c for c in commands if runnable(c)]
    left_out = [c.splitlines()[0][:60] for c in commands if "pulumi" in c and not runnable(c)]
    for command in steps:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=pulumi.project, env=pulumi.env,
                                capture_output=True, text=True, timeout=1200)
        with (pulumi.run_dir / "logs" / "jenkins.log").open("a") as log:
            log.write(f"\n[{event}] $ {command}\n-> {result.returncode}\n{result.stdout}\n{result.stderr}\n")
        if result.returncode != 0:
            raise AssertionError(f"Jenkinsfile step of '{event}' failed (exit {result.returncode}): {command}\n{(result.stdout + result.stderr)[-2500:]}")
    say(f"jenkins: {event}: ran the Jenkinsfile's {len(steps)} pulumi steps for real" + (f" (left out: {', '.join(left_out)})" if left_out else ""))
    return len(steps)
