"""The Jenkinsfile, evaluated for real by Groovy against a stub of the declarative DSL.

tests/jenkins/run_jenkinsfile.groovy compiles the Jenkinsfile with Debian's groovy (2.4, the
Groovy line Jenkins runs pipelines with), simulates a build for each event (branch, change
request, timer, approval, failing commands) and prints every executed step with its context:
stage, bound credentials, held locks, timeouts, agent. These tests read that record.
Groovy comes from `make tools-groovy`; without it the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml

from tests.conftest import ROOT

RUNNER = ROOT / "tests" / "jenkins" / "run_jenkinsfile.groovy"
JENKINSFILE = ROOT / "Jenkinsfile"
PROJECT = "dataops-monitoring"
STACKS = ("staging", "prod")
COMMIT = "5f1d0c3b9e8a7d6c5b4a39281706f5e4d3c2b1a0"
TARGET_HEAD = "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233"
REGISTRY = "registry.test.invalid/dataops"
BITBUCKET_PR = "https://bitbucket.test.invalid/projects/DATA/repos/dataops-monitoring/pull-requests/7"

PULUMI_UP = r"^pulumi\s+up\b"
STAGING_UP = r"^pulumi up\b.*--stack staging\b"
STAGING_DRIFT = r"^pulumi preview\b.*--expect-no-changes.*--stack staging\b"

EVENTS: dict[str, dict[str, Any]] = {
    "main": {"branch": "main", "commit": COMMIT, "params": {"REGISTRY": REGISTRY}},
    "change_request": {
        "branch": "PR-7",
        "changeTarget": "main",
        "commit": COMMIT,
        "stdout": {r"^git rev-parse origin/main$": TARGET_HEAD + "\n"},
        "files": {f"build/review/{s}.md": f"# Review diff: stack `{s}`\nREPORT-{s}\n" for s in STACKS},
    },
    "timer": {"branch": "main", "commit": COMMIT, "causes": ["TimerTrigger"]},
    "feature_branch": {"branch": "feature/alerts", "commit": COMMIT},
    "change_request_bitbucket": {
        "branch": "PR-7",
        "changeTarget": "main",
        "changeUrl": BITBUCKET_PR,
        "commit": COMMIT,
        "params": {"SCM_HOST": "bitbucket-server"},
        "stdout": {r"^git rev-parse origin/main$": TARGET_HEAD + "\n"},
        "files": {f"build/review/{s}.md": f"# Review diff: stack `{s}`\nREPORT-{s}\n" for s in STACKS},
    },
    "bitbucket_host_with_a_github_pull_request": {
        "branch": "PR-7",
        "changeTarget": "main",
        "changeUrl": "https://github.com/dataops/dataops-monitoring/pull/7",
        "commit": COMMIT,
        "params": {"SCM_HOST": "bitbucket-server"},
        "files": {f"build/review/{s}.md": "x\n" for s in STACKS},
    },
    "self_managed_backend": {"branch": "main", "commit": COMMIT, "params": {"REGISTRY": REGISTRY, "PULUMI_BACKEND": "self-managed"}},
    "approval_declined": {"branch": "main", "commit": COMMIT, "approve": False},
    "staging_up_fails": {"branch": "main", "commit": COMMIT, "fail": [STAGING_UP]},
    "staging_drifted": {"branch": "main", "commit": COMMIT, "causes": ["TimerTrigger"], "fail": [STAGING_DRIFT]},
}


def require_groovy() -> str:
    """Debian's groovy (`make tools-groovy`): a skip locally when missing, a failure under CI=true."""
    path = shutil.which("groovy")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("groovy is missing on CI: `make tools-groovy` must install it")
        pytest.skip("groovy not installed: run `make tools-groovy`")
    return path


def groovy_env() -> dict[str, str]:
    """Debian's groovy launcher wants JAVA_HOME or /usr/lib/jvm/default-java (default-jre-headless)."""
    env = dict(os.environ)
    if not env.get("JAVA_HOME") and not Path("/usr/lib/jvm/default-java/bin/java").exists():
        java = shutil.which("java")
        if java:
            env["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    return env


def run_runner(jenkinsfile: Path, events: Any) -> subprocess.CompletedProcess:
    groovy = require_groovy()
    return subprocess.run(
        [groovy, str(RUNNER), str(jenkinsfile), json.dumps(events)],
        capture_output=True, text=True, timeout=300, env=groovy_env(), cwd=ROOT,
    )


@pytest.fixture(scope="module")
def builds() -> dict[str, dict[str, Any]]:
    """One Groovy run simulates every event (one JVM start for the module)."""
    names = list(EVENTS)
    proc = run_runner(JENKINSFILE, [EVENTS[n] for n in names])
    assert proc.returncode == 0, f"the Jenkinsfile did not run (exit {proc.returncode}):\n{proc.stderr}"
    return dict(zip(names, json.loads(proc.stdout)))


def steps(build: dict, kind: str = "sh") -> list[dict]:
    return [r for r in build["records"] if r["type"] == kind]


def commands(build: dict) -> list[str]:
    return [r["command"].strip() for r in steps(build)]


def index(build: dict, pattern: str, kind: str = "sh") -> int:
    """Position in the record of the first step of ``kind`` whose command matches ``pattern``."""
    for i, record in enumerate(build["records"]):
        if record["type"] == kind and (kind != "sh" or re.search(pattern, record["command"].strip())):
            return i
    raise AssertionError(f"no {kind} step matching {pattern!r}")


def stack_of(command: str) -> Optional[str]:
    match = re.search(r"--stack[ =](\S+)", command)
    return match.group(1) if match else None


def pulumi_steps(build: dict) -> list[dict]:
    return [r for r in steps(build) if r["command"].strip().startswith("pulumi ")]


def ran(build: dict, stage: str) -> bool:
    return any(r["type"] == "stage" and r["name"] == stage and r["status"] == "started" for r in build["records"])


# --------------------------------------------------------------------------- change requests


def test_change_request_previews_both_stacks_and_never_deploys(builds):
    build = builds["change_request"]
    assert build["result"] == "SUCCESS"
    cmds = commands(build)
    assert not [c for c in cmds if re.search(PULUMI_UP, c)], "a change request must never run pulumi up"
    for forbidden in ("make image", "make push-image", "docker push", "docker login"):
        assert not [c for c in cmds if forbidden in c], f"a change request must not run {forbidden}"
    assert not steps(build, "input"), "a change request asks for no approval"
    assert not [r for r in steps(build) if "registry-credentials" in r["credentials"]]
    previews = [c for c in cmds if c.startswith("pulumi preview")]
    assert sorted(stack_of(c) for c in previews) == sorted(STACKS)
    for command in previews:
        flags = shlex.split(command)
        for flag in ("--diff", "--refresh", "--policy-pack"):
            assert flag in flags, f"{flag} missing: {command}"
        assert "--yes" not in flags and "--expect-no-changes" not in flags


def test_change_request_review_report_is_archived_and_posted(builds):
    build = builds["change_request"]
    records = build["records"]
    for stack in STACKS:
        report = f"build/review/{stack}.md"
        diff = index(build, rf"^make diff\b(?=.*\bSTACK={stack}\b)(?=.*\bBASE=origin/main\b)(?=.*\bOUT={re.escape(report)}\b)")
        archived = [i for i, r in enumerate(records) if r["type"] == "archiveArtifacts" and i > diff
                    and any(re.fullmatch(p.strip().replace("**", ".*"), report) for p in r["artifacts"].split(","))]
        assert archived, f"{report} is not archived after it is written"
        # The report renders the stack files as committed: before any `pulumi config set`.
        assert diff < index(build, r"^pulumi config set\b")
    comments = steps(build, "comment")
    assert len(comments) == 1 and comments[0]["plugin"] == "pipeline-github"
    for stack in STACKS:
        assert f"REPORT-{stack}" in comments[0]["body"], "every stack's report is posted"
    assert "origin/main" in comments[0]["body"]


def test_change_request_previews_the_image_main_runs(builds):
    """The stack files hold the default image; previews compare with the target branch's image."""
    build = builds["change_request"]
    for stack in STACKS:
        config = index(build, rf"^pulumi config set --stack {stack} {PROJECT}:icebergExporterImage \S+/iceberg-exporter:{TARGET_HEAD}$")
        assert config < index(build, rf"^pulumi preview\b.*--stack {stack}\b")


# --------------------------------------------------------------------------- main


def test_main_deploys_staging_then_waits_for_approval_then_prod(builds):
    build = builds["main"]
    assert build["result"] == "SUCCESS"
    ups = [c for c in commands(build) if re.search(PULUMI_UP, c)]
    assert [stack_of(c) for c in ups] == ["staging", "prod"]
    for command in ups:
        flags = shlex.split(command)
        assert {"--yes", "--refresh", "--policy-pack"} <= set(flags), command
    staging, prod = index(build, STAGING_UP), index(build, r"^pulumi up\b.*--stack prod\b")
    approvals = [i for i, r in enumerate(build["records"]) if r["type"] == "input"]
    assert len(approvals) == 1 and staging < approvals[0] < prod, "the approval sits between staging and prod"
    approval = build["records"][approvals[0]]
    assert approval["submitter"], "the prod approval names who may approve"
    assert approval["agent"] in (None, {"kind": "none"}), "waiting for approval holds no agent"
    assert not approval["locks"], "waiting for approval holds no stack lock"
    assert not [c for c in commands(build) if "--expect-no-changes" in c], "no drift check on a push"


def test_main_builds_scans_and_pushes_the_commit_image_before_staging(builds):
    build = builds["main"]
    built = index(build, rf"^make\b.*\bimage\b.*\bIMAGE_TAG={COMMIT}\b.*\bREGISTRY={re.escape(REGISTRY)}(\s|$)")
    scan = index(build, r"\btrivy image --exit-code 1 --severity CRITICAL\b")
    scan_cmd = build["records"][scan]["command"]
    assert "command -v trivy" in scan_cmd and f"{REGISTRY}/iceberg-exporter:{COMMIT}" in scan_cmd
    login = index(build, r"\bdocker login\b.*--password-stdin")
    pushed = index(build, rf"^make\b.*\bpush-image\b.*\bIMAGE_TAG={COMMIT}\b.*\bREGISTRY={re.escape(REGISTRY)}(\s|$)")
    assert built < scan < login < pushed < index(build, STAGING_UP)
    assert "registry-credentials" in build["records"][pushed]["credentials"]
    assert "$REGISTRY_PASSWORD" not in build["records"][pushed]["command"]


def test_the_built_image_tag_reaches_each_stack_config_before_up(builds):
    build = builds["main"]
    built = build["records"][index(build, r"^make\b.*\bimage\b")]["command"]
    tag = re.search(r"\bIMAGE_TAG=(\S+)", built).group(1)
    registry = re.search(r"\bREGISTRY=(\S+)", built).group(1)
    assert tag == COMMIT
    for stack in STACKS:
        up = index(build, rf"^pulumi up\b.*--stack {stack}\b")
        # Every image set for the stack before its up (the prod preview's agent, then the deploy's
        # new agent) is the one just built, and one is set in the agent that runs the up.
        sets = [(i, r) for i, r in enumerate(build["records"][:up]) if r["type"] == "sh"
                and re.match(rf"^pulumi config set --stack {stack} {PROJECT}:icebergExporterImage ", r["command"])]
        assert sets and all(r["command"].endswith(f" {registry}/iceberg-exporter:{tag}") for _, r in sets)
        assert sets[-1][1]["agent"] == build["records"][up]["agent"]


def test_declined_approval_leaves_prod_untouched(builds):
    build = builds["approval_declined"]
    assert build["result"] == "ABORTED"
    assert [stack_of(c) for c in commands(build) if re.search(PULUMI_UP, c)] == ["staging"]
    assert not ran(build, "Deploy prod")


def test_staging_failure_stops_before_the_approval(builds):
    build = builds["staging_up_fails"]
    assert build["result"] == "FAILURE"
    assert not steps(build, "input")
    assert not [c for c in commands(build) if re.search(r"^pulumi\b.*--stack prod\b", c)]


def test_only_main_gets_the_docker_socket(builds):
    """The node's Docker socket is root on the node: a change request's code never gets it."""
    for name, build in builds.items():
        for agent in steps(build, "agent"):
            mounted = "/var/run/docker.sock" in (agent["spec"].get("args") or "")
            if build["event"]["branch"] != "main":
                assert not mounted, f"{name}: {agent['spec']}"
    image_stage = [r for r in steps(builds["main"]) if r["stage"] == "CI / Image"]
    assert image_stage and all("/var/run/docker.sock" in r["agent"]["args"] for r in image_stage)


def test_other_branches_only_test_and_render(builds):
    build = builds["feature_branch"]
    assert build["result"] == "SUCCESS"
    assert not pulumi_steps(build)
    assert "make test" in commands(build)
    assert {f"make render STACK={s}" for s in STACKS} <= set(commands(build))
    assert not steps(build, "input") and not steps(build, "comment")
    assert not [c for c in commands(build) if "image" in c.split()[:2] or "push-image" in c]


# --------------------------------------------------------------------------- stacks and credentials


def test_each_stack_runs_inside_its_own_kubeconfig_backend_and_lock(builds):
    for name, build in builds.items():
        for record in pulumi_steps(build):
            command = record["command"].strip()
            if command == "pulumi version":
                continue
            stack = stack_of(command)
            assert stack in STACKS, f"{name}: every stack command names its stack: {command}"
            kubeconfigs = [c for c in record["credentials"] if c.startswith("kubeconfig-")]
            assert kubeconfigs == [f"kubeconfig-{stack}"], f"{name}: {command} runs with {kubeconfigs}"
            assert "KUBECONFIG" in record["credentialVariables"]
            assert f"{PROJECT}-{stack}" in record["locks"], f"{name}: {command} without the stack lock"
            assert record["timeouts"], f"{name}: {command} runs without a timeout"
            if name == "self_managed_backend":
                assert {"pulumi-backend-url", "pulumi-config-passphrase"} <= set(record["credentials"])
                assert {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"} <= set(record["credentialVariables"])
                assert "pulumi-access-token" not in record["credentials"]
            else:
                assert "pulumi-access-token" in record["credentials"]
                assert "PULUMI_ACCESS_TOKEN" in record["credentialVariables"]
                assert "pulumi-config-passphrase" not in record["credentials"]


def test_self_managed_backend_deploys_the_same_way(builds):
    assert commands(builds["self_managed_backend"]) == commands(builds["main"])


# --------------------------------------------------------------------------- drift check


def test_drift_check_runs_only_on_the_timer(builds):
    timer = builds["timer"]
    drift = [c for c in commands(timer) if "--expect-no-changes" in c]
    assert sorted(stack_of(c) for c in drift) == sorted(STACKS)
    for command in drift:
        assert command.startswith("pulumi preview ") and "--refresh" in command.split()
    assert not [c for c in commands(timer) if re.search(PULUMI_UP, c)], "the timer never deploys"
    assert not [c for c in commands(timer) if "push-image" in c or c == "make test"]
    assert not steps(timer, "input")
    for name, build in builds.items():
        if "TimerTrigger" not in build["event"].get("causes", []):
            assert not [c for c in commands(build) if "--expect-no-changes" in c], f"drift check ran on {name}"
            assert not ran(build, "Drift check")


def test_drift_check_compares_with_the_image_main_deployed(builds):
    build = builds["timer"]
    for stack in STACKS:
        config = index(build, rf"^pulumi config set --stack {stack} {PROJECT}:icebergExporterImage \S+/iceberg-exporter:{COMMIT}$")
        assert config < index(build, rf"^pulumi preview --expect-no-changes\b.*--stack {stack}\b")


def test_a_drifted_stack_fails_the_build_and_the_others_are_still_checked(builds):
    build = builds["staging_drifted"]
    assert build["result"] == "FAILURE"
    assert index(build, STAGING_DRIFT) < index(build, r"^pulumi preview --expect-no-changes\b.*--stack prod\b")


def test_cron_trigger_only_on_main(builds):
    for name, build in builds.items():
        crons = [t["spec"] for t in build["pipeline"]["triggers"] if t["name"] == "cron"]
        assert len(crons) == 1
        if build["event"]["branch"] == "main":
            assert crons[0].strip(), "main has the drift check schedule"
        else:
            assert crons[0] == "", f"{name}: only main is scheduled"


# --------------------------------------------------------------------------- pipeline shape


def test_one_build_at_a_time_and_a_timeout_on_every_stage(builds):
    build = builds["main"]
    assert "disableConcurrentBuilds" in [o["name"] for o in build["pipeline"]["options"]]
    for stage in build["stages"]:
        timeouts = [o for o in stage["options"] if o["name"] == "timeout"]
        assert timeouts, f"stage {' / '.join(stage['path'])} has no timeout"
        assert timeouts[0]["args"]["time"] > 0


def test_agent_image_pins_the_pulumi_cli_to_the_sdk_and_python_311(builds):
    pin = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    params = {p["name"]: p for p in builds["main"]["pipeline"]["parameters"]}
    image = params["AGENT_IMAGE"]["default"]
    assert image == f"pulumi/pulumi-python-3.11:{pin}"
    assert params["PULUMI_BACKEND"]["choices"] == ["pulumi-cloud", "self-managed"]
    agents = steps(builds["main"], "agent")
    assert agents and all(a["spec"]["kind"] == "docker" and a["spec"]["image"] == image for a in agents)
    # The agent checks the CLI against requirements.txt itself (a parameter default changes a build late).
    assert [c for c in commands(builds["main"]) if "pulumi version" in c and "requirements.txt" in c]


def test_every_agent_that_runs_pulumi_checks_the_cli_and_builds_the_venv_first(builds):
    """The policy pack runs from ../.venv (policy/PulumiPolicy.yaml): `make venv` in that same container."""
    for name, build in builds.items():
        records = build["records"]
        for position, record in enumerate(records):
            if record["type"] != "sh" or not record["command"].strip().startswith("pulumi "):
                continue
            allocated = max(i for i, r in enumerate(records[:position]) if r["type"] == "agent")
            before = [r["command"] for r in records[allocated:position] if r["type"] == "sh"]
            assert "make venv" in before, f"{name}: {record['command']} without make venv in its agent"
            assert [c for c in before if "pulumi version" in c and "requirements.txt" in c], \
                f"{name}: {record['command']} in an agent whose CLI version was not checked"


# --------------------------------------------------------------------------- every command exists

SHELL_WORDS = {"if", "then", "else", "elif", "fi", "!", "{", "}", "do", "done", "while", "for", "in"}
BUILTINS = {"echo", "exit", "command", "test", "[", "true", "false", "cd", "export", "set", "printf"}
# Tools of the agent image (python:3.11-slim + git) and what the pipeline installs itself
# (make, docker.io); trivy only behind `command -v trivy`.
TOOLS = {"git", "python3", "grep", "mkdir", "sed", "apt-get", "docker", "trivy", "make", "pulumi", "cat", "curl"}
# Flags as Pulumi CLI 3.274.0 declares them (pkg/cmd/pulumi/operations/preview.go, up.go; --color
# is the root command's): --save-plan and --plan are marked [EXPERIMENTAL] and hidden from --help
# unless PULUMI_EXPERIMENTAL is set, but parsed and honoured without it.
PULUMI_COMMANDS = {
    ("preview",): {"--diff", "--refresh", "--policy-pack", "--expect-no-changes", "--stack", "--save-plan", "--color"},
    ("up",): {"--yes", "--diff", "--refresh", "--policy-pack", "--expect-no-changes", "--stack", "--plan", "--color"},
    ("config", "set"): {"--stack", "--secret", "--path", "--plaintext"},
    ("stack", "select"): {"--stack", "--create"},
    ("version",): set(),
}
PULUMI_VALUE_FLAGS = {"--policy-pack", "--stack", "--save-plan", "--plan", "--color"}


def makefile_targets() -> tuple[set[str], str]:
    text = (ROOT / "Makefile").read_text()
    targets = set()
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_./-]+(?:[ \t]+[A-Za-z0-9_./-]+)*)[ \t]*::?(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets, text


def simple_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a POSIX sh script (enough for ours): words, without redirections."""
    substitutions = re.findall(r"\$\(([^()]*)\)", script)
    for inner in substitutions:
        yield from simple_commands(inner)
    script = re.sub(r"\$\([^()]*\)", "SUBSTITUTION", script)
    for line in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"(?<=\s)\d+(?=[<>])", "", line)  # `2>&1`: the descriptor is not a word
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.commenters = ""
        lexer.whitespace_split = True
        current: list[str] = []
        skip_next = False
        for token in lexer:
            if skip_next:
                skip_next = False
                continue
            if token in (";", "&&", "||", "|", "&", "(", ")", ";;"):
                if current:
                    yield current
                current = []
            elif set(token) <= set("<>&") and any(ch in token for ch in "<>"):
                skip_next = True  # `> file`, `>& 1`: the next word is a file or a descriptor
            else:
                current.append(token)
        if current:
            yield current


def command_problems(words: list[str], targets: set[str], makefile: str) -> list[str]:
    while words and (words[0] in SHELL_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words = words[1:]
    if not words:
        return []
    name, args = words[0], words[1:]
    if name == "make":
        problems = []
        named = [a for a in args if not a.startswith("-") and "=" not in a]
        for target in named:
            if target not in targets:
                problems.append(f"make target '{target}' is not in the Makefile")
        for variable in (a.split("=", 1)[0] for a in args if "=" in a and not a.startswith("-")):
            if f"$({variable})" not in makefile and f"${{{variable}}}" not in makefile:
                problems.append(f"make variable {variable} is not used by the Makefile")
        return problems or ([] if named else ["make without a target"])
    if name == "pulumi":
        return pulumi_problems(args)
    if "/" in name or name.endswith((".sh", ".py")):
        return [] if (ROOT / name).exists() else [f"script {name} is not in the repository"]
    if name in ("python3", "bash", "sh"):
        if args and args[0] == "-m":
            module = ROOT / args[1].replace(".", "/")
            return [] if module.with_suffix(".py").exists() or module.is_dir() else [f"module {args[1]} is not in the repository"]
        if args and not args[0].startswith("-"):
            return [] if (ROOT / args[0]).exists() else [f"script {args[0]} is not in the repository"]
        return []
    if name in BUILTINS or name in TOOLS:
        return []
    return [f"unknown command {name}"]


def pulumi_problems(args: list[str]) -> list[str]:
    positional, flags, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            flag, _, value = arg.partition("=")
            if flag in PULUMI_VALUE_FLAGS and not value:
                i += 1
                value = args[i] if i < len(args) else ""
            flags.append((flag, value))
        elif arg.startswith("-"):
            return [f"use long pulumi flags: {arg}"]
        else:
            positional.append(arg)
        i += 1
    sub = next((s for s in sorted(PULUMI_COMMANDS, key=len, reverse=True) if tuple(positional[:len(s)]) == s), None)
    if sub is None:
        return [f"pulumi {' '.join(positional)}: not a subcommand we allow"]
    problems = [f"pulumi {' '.join(sub)}: no flag {f}" for f, _ in flags if f not in PULUMI_COMMANDS[sub]]
    rest = positional[len(sub):]
    values = dict(flags)
    if sub in (("preview",), ("up",), ("config", "set")) and values.get("--stack") not in STACKS:
        problems.append(f"pulumi {' '.join(sub)} without --stack <one of {STACKS}>")
    for stack in [v for f, v in flags if f == "--stack"]:
        if not (ROOT / f"Pulumi.{stack}.yaml").is_file():
            problems.append(f"no Pulumi.{stack}.yaml for --stack {stack}")
    if sub in (("preview",), ("up",)):
        if rest:
            problems.append(f"unexpected arguments {rest}")
        pack = values.get("--policy-pack")
        if not pack:
            problems.append(f"pulumi {sub[0]} without --policy-pack")
        elif not (ROOT / pack / "PulumiPolicy.yaml").is_file():
            problems.append(f"--policy-pack {pack}: no {pack}/PulumiPolicy.yaml in the repository")
    if sub == ("up",) and "--yes" not in values:
        problems.append("pulumi up without --yes (it would wait for a prompt)")
    if sub == ("config", "set"):
        if len(rest) != 2:
            problems.append(f"pulumi config set takes KEY VALUE, got {rest}")
        else:
            namespace, _, key = rest[0].partition(":")
            declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
            if namespace != PROJECT or key not in declared:
                problems.append(f"config key {rest[0]} is not declared in Pulumi.yaml")
    return problems


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_sh_command_exists(builds, event):
    targets, makefile = makefile_targets()
    problems = []
    for command in commands(builds[event]):
        for words in simple_commands(command):
            problems += [f"{p}   <- {command!r}" for p in command_problems(words, targets, makefile)]
        if "trivy " in command:
            assert "command -v trivy" in command, "trivy is optional: guard it"
    assert not problems, "\n".join(problems)


def test_the_command_checker_rejects_what_does_not_exist():
    targets, makefile = makefile_targets()

    def check(script: str) -> list[str]:
        return [p for words in simple_commands(script) for p in command_problems(words, targets, makefile)]

    assert check("make render STACK=staging") == []
    assert check("make -s no-such-target STACK=prod")
    assert check("make render NO_SUCH_VARIABLE=1")
    assert check("pulumi destroy --yes --stack prod")
    assert check("pulumi up --stack prod --policy-pack policy")  # no --yes
    assert check("pulumi preview --skip-preview --stack prod --policy-pack policy")
    assert check("pulumi preview --diff --policy-pack policy")  # no --stack
    assert check("pulumi config set --stack prod dataops-monitoring:noSuchKey 1")
    assert check("x=$(kubectl get pods) && echo $x")  # kubectl is not in the agent
    assert check("./tools/no_such_script.sh --flag")
    assert check("python3 -m tools.no_such_module") and not check("python3 -m tools.render staging")
    assert check("echo ok > /dev/null 2>&1") == []


# --------------------------------------------------------------------------- the stub can fail


def test_a_syntax_error_in_the_jenkinsfile_fails(tmp_path):
    text = JENKINSFILE.read_text()
    broken = tmp_path / "Jenkinsfile"
    position = text.index("stage('Render')")
    broken.write_text(text[:position] + "stage('Render' {" + text[position + len("stage('Render')"):])
    proc = run_runner(broken, EVENTS["main"])
    assert proc.returncode == 1, proc.stdout[-500:] + proc.stderr[-2000:]
    assert "does not compile" in proc.stderr
    assert proc.stdout == ""


def test_a_dsl_misuse_fails(tmp_path):
    """A step directly in a stage (outside `steps {}`): Jenkins rejects it, so does the stub."""
    text = JENKINSFILE.read_text()
    misused = tmp_path / "Jenkinsfile"
    misused.write_text(text.replace("steps {\n                        sh 'make test'\n                    }", "sh 'make test'", 1))
    assert misused.read_text() != text
    proc = run_runner(misused, EVENTS["main"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "'sh' is not allowed" in proc.stderr


def test_an_unknown_step_fails(tmp_path):
    text = JENKINSFILE.read_text()
    unknown = tmp_path / "Jenkinsfile"
    unknown.write_text(text.replace("sh 'make test'", "shell 'make test'", 1))
    proc = run_runner(unknown, EVENTS["main"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "unknown step or function 'shell'" in proc.stderr


# --------------------------------------------------------------------------- make image / push-image


def make_dry_run(*args: str) -> list[str]:
    proc = subprocess.run(["make", "-n", "--no-print-directory", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def test_make_image_and_push_image_build_and_push_the_exporter_image():
    """No Docker engine runs here: `make -n` shows the commands the Image stage runs."""
    assert make_dry_run("image", "IMAGE_TAG=t1", "REGISTRY=reg.example/team") == [
        "docker build -f exporters/iceberg/Dockerfile -t reg.example/team/iceberg-exporter:t1 ."
    ]
    assert make_dry_run("push-image", "IMAGE_TAG=t1", "REGISTRY=reg.example/team") == [
        "docker push reg.example/team/iceberg-exporter:t1"
    ]
    assert (ROOT / "exporters" / "iceberg" / "Dockerfile").is_file()
    short = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    if short:  # a git checkout: the tag defaults to the commit
        assert make_dry_run("image", "REGISTRY=r") == [f"docker build -f exporters/iceberg/Dockerfile -t r/iceberg-exporter:{short} ."]


# --------------------------------------------------------------------------- one list of stacks


def test_the_stacks_are_listed_once_and_are_the_stack_files():
    text = JENKINSFILE.read_text()
    listed = re.search(r"List<String> stacks\(\) \{\s*return \[([^\]]*)\]", text).group(1)
    names = [s.strip().strip("'\"") for s in listed.split(",")]
    assert sorted(names) == sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    for name in names:
        assert len(re.findall(rf"['\"]{name}['\"]", code)) == 1, f"{name!r} is written outside stacks()"


def test_every_stack_is_rendered_and_archived(builds):
    build = builds["feature_branch"]
    renders = [c for c in commands(build) if c.startswith("make render")]
    assert renders == [f"make render STACK={s}" for s in STACKS]
    archived = next(r["artifacts"] for r in steps(build, "archiveArtifacts"))
    assert archived == ", ".join(f"build/{s}/**" for s in STACKS)


# --------------------------------------------------------------------------- prod: preview, approval, plan


def test_the_approval_shows_prods_preview_and_the_deploy_applies_its_plan(builds):
    build = builds["main"]
    records = build["records"]
    approval = next(i for i, r in enumerate(records) if r["type"] == "input")
    preview = index(build, r"^pulumi preview\b.*--stack prod\b")
    command = records[preview]["command"]
    flags = shlex.split(command)
    plan = flags[flags.index("--save-plan") + 1]
    preview_file = flags[flags.index(">") + 1]
    assert {"--diff", "--refresh", "--policy-pack"} <= set(flags) and "--expect-no-changes" not in flags
    assert index(build, STAGING_UP) < preview < approval, "prod is previewed after staging is deployed, before the approval"
    assert "kubeconfig-prod" in records[preview]["credentials"] and "dataops-monitoring-prod" in records[preview]["locks"]
    archived = [i for i, r in enumerate(records) if r["type"] == "archiveArtifacts" and r["artifacts"] == preview_file]
    assert archived and preview < archived[0] < approval, "the approver can read the preview"
    assert preview_file in records[approval]["message"]
    stash = next(i for i, r in enumerate(records) if r["type"] == "stash")
    assert records[stash]["includes"] == plan and preview < stash < approval
    assert not [r for r in records if r["type"] == "archiveArtifacts" and plan in r["artifacts"]], "the plan holds ciphertext: not archived"
    unstash = next(i for i, r in enumerate(records) if r["type"] == "unstash")
    up = index(build, r"^pulumi up\b.*--stack prod\b")
    assert approval < unstash < up and records[unstash]["name"] == records[stash]["name"]
    up_flags = shlex.split(records[up]["command"])
    assert up_flags[up_flags.index("--plan") + 1] == plan, "prod applies exactly the previewed plan"
    # The experimental switch is not needed for plans in CLI 3.274.0, and would turn on other engine behaviour.
    assert not [r for r in records if "PULUMI_EXPERIMENTAL" in json.dumps(r)]


def test_pulumi_commands_are_plain_sh_strings(builds):
    """The lead replays the sh steps against a real cluster: every pulumi command is one sh step of its own."""
    for name, build in builds.items():
        for record in steps(build):
            if re.search(r"\bpulumi (preview|up|config set|import)\b", record["command"]):
                assert record["command"].strip().startswith("pulumi "), f"{name}: {record['command']}"
                assert not record["returnStdout"] or "rev-parse" in record["command"], record["command"]


def test_declined_approval_never_unstashes_the_plan(builds):
    assert not steps(builds["approval_declined"], "unstash")


# --------------------------------------------------------------------------- Bitbucket Server


def test_bitbucket_change_request_comment_goes_to_the_rest_api(builds):
    build = builds["change_request_bitbucket"]
    assert build["result"] == "SUCCESS"
    assert not steps(build, "comment"), "no GitHub comment on Bitbucket"
    written = [r for r in steps(build, "writeFile") if r["file"] == "build/review/comment.md"]
    encode = index(build, r"^python3 -c .*json\.dump.* build/review/comment\.md build/review/comment\.json$")
    post = index(build, r"^curl\b")
    assert written and encode < post
    record = build["records"][post]
    assert record["credentials"][-1] == "bitbucket-token"
    env = next(r for r in reversed(build["records"][:post]) if r["type"] == "withEnv")
    assert env["vars"] == ["BITBUCKET_COMMENTS_URL=https://bitbucket.test.invalid/rest/api/1.0/projects/DATA/repos/"
                           "dataops-monitoring/pull-requests/7/comments"]
    assert '"Authorization: Bearer $BITBUCKET_TOKEN"' in record["command"], "the token stays in the shell's environment"


def test_bitbucket_host_with_a_non_bitbucket_pull_request_fails_clearly(builds):
    build = builds["bitbucket_host_with_a_github_pull_request"]
    assert build["result"] == "FAILURE"
    assert any("is not a Bitbucket Server pull request URL" in r["message"] for r in steps(build, "error"))


def test_the_bitbucket_commands_post_the_report_to_a_stand_in_server(builds, tmp_path):
    """The recorded sh steps, run for real: python3 encodes the comment, curl POSTs it to a loopback
    stand-in of Bitbucket's comments endpoint, which checks the token and reads the JSON."""
    import http.server
    import threading

    build = builds["change_request_bitbucket"]
    encode = build["records"][index(build, r"^python3 -c .*json\.dump")]["command"]
    post = build["records"][index(build, r"^curl\b")]["command"]
    report = "# Review diff: stack `prod`\n| a | b |\n임계값 \"5\" → **20**, $HOME and `backticks`\n"
    (tmp_path / "build" / "review").mkdir(parents=True)
    (tmp_path / "build" / "review" / "comment.md").write_text(report, encoding="utf-8")
    received: list[tuple[str, str, dict]] = []

    class StandIn(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": 1}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = "/rest/api/1.0/projects/DATA/repos/dataops-monitoring/pull-requests/7/comments"
        env = {"PATH": os.environ["PATH"], "BITBUCKET_TOKEN": "stand-in-token",
               "BITBUCKET_COMMENTS_URL": f"http://127.0.0.1:{server.server_port}{path}"}
        for command in (encode, post):
            proc = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert received == [(path, "Bearer stand-in-token", {"text": report})]
