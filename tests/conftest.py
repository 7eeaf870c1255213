"""Shared fixtures: run the real program under Pulumi's mock engine with a given config."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.mock_engine import PROJECT, ProgramRun, Secret, run_program, stack_config  # noqa: E402
from tools.stack_files import STACK_DIR_VARIABLE  # noqa: E402

# Tests own their inputs: `prod` and `staging` mean the sample files in tests/stacks/samples,
# never the repository's Pulumi.*.yaml (user data; only tests/test_stacks.py and the policy
# tests read those, to check that each renders). Subprocesses (tools.render) inherit it.
SAMPLE_STACKS = ROOT / "tests" / "stacks" / "samples"
os.environ[STACK_DIR_VARIABLE] = str(SAMPLE_STACKS)

# Secret keys a stack needs to preview without placeholders; values are random per run,
# so no credential-looking literal ever sits in the repository.
PROD_SECRETS = ("pagerdutyRoutingKey", "slackWebhookUrl", "deadMansSwitchUrl", "thanosAccessKey", "thanosSecretKey")


def random_secret(key: str) -> Secret:
    if "slack" in key.lower():  # settings check the shape of a webhook (an https URL), never its value
        return Secret(f"https://hooks.slack.invalid/services/test-{key}-{secrets.token_hex(8)}")
    if key == "deadMansSwitchUrl":  # an https heartbeat URL
        return Secret(f"https://heartbeat.invalid/ping/test-{key}-{secrets.token_hex(8)}")
    return Secret(f"test-{key}-{secrets.token_hex(8)}")


def with_secrets(keys=PROD_SECRETS) -> dict[str, Any]:
    return {f"{PROJECT}:{k}": random_secret(k) for k in keys}


@pytest.fixture
def run_stack() -> Callable[..., ProgramRun]:
    """run_stack("prod", {"dataops-monitoring:key": value, ...}) -> ProgramRun.

    Starts from Pulumi.<stack>.yaml; overrides may be plain values or Secret(...) for secrets.
    Missing secrets are NOT filled in: this is how a real `pulumi preview` would see the stack.
    """

    def run(stack: str, overrides: Optional[dict[str, Any]] = None, preview: bool = True) -> ProgramRun:
        config, secret_keys = stack_config(stack, placeholder_secrets=False, overrides=overrides)
        return run_program(stack, config, secret_keys, preview=preview)

    return run


# The plain prod and staging runs are the same for every test that reads them: run each once
# per session (a run is a list of registrations that tests only read).
_RUNS: dict[str, ProgramRun] = {}


def _cached_run(stack: str, secret_keys: tuple[str, ...]) -> ProgramRun:
    if stack not in _RUNS:
        config, keys = stack_config(stack, placeholder_secrets=False, overrides=with_secrets(secret_keys))
        _RUNS[stack] = run_program(stack, config, keys)
    return _RUNS[stack]


@pytest.fixture
def prod_run() -> ProgramRun:
    return _cached_run("prod", PROD_SECRETS)


@pytest.fixture
def staging_run() -> ProgramRun:
    return _cached_run("staging", ("thanosAccessKey", "thanosSecretKey"))


@pytest.fixture
def sample_run(prod_run, staging_run) -> Callable[[str], ProgramRun]:
    """sample_run("prod" | "staging"): the plain run of that sample with its secrets (prod_run /
    staging_run, once per session), for tests parametrized over the two stacks."""
    return {"prod": prod_run, "staging": staging_run}.__getitem__


# ---------------------------------------------------------------------------------------------
# `make test-fast` leaves out every test that starts a real program (promtool, amtool, Prometheus,
# groovy, the exporter, git worktrees): marker `tools`, set here so no test file has to remember it.
# ---------------------------------------------------------------------------------------------
import ast  # noqa: E402
import functools  # noqa: E402

_TOOL_MODULES = {
    "test_rules_promtool", "test_iceberg_image", "test_jenkinsfile", "test_review_diff", "test_iceberg_exporter",
    "test_iceberg_exporter_faults", "test_iceberg_server", "test_iceberg_hive", "test_iceberg_rest", "test_iceberg_shards",
    "test_checkov",  # checkov from .venv-checkov (make checkov-venv)
}
_TOOL_WORDS = ("tool(", "subprocess", "AMTOOL", "_promtool", "Popen", "running(")


@functools.lru_cache(maxsize=None)
def _tool_tests(path: str) -> frozenset[str]:
    """Test functions of a module that run a real program, directly, through a module helper or
    through a fixture of the module (an argument named like one of its functions)."""
    source = Path(path).read_text(encoding="utf-8")
    nodes = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    lines = source.splitlines(keepends=True)  # ast.get_source_segment re-splits the file per call
    functions = {n.name: "".join(lines[n.lineno - 1 : n.end_lineno]) for n in nodes}
    arguments = {n.name: [a.arg for a in n.args.args] for n in nodes}

    # A function runs a program when it does so itself or reaches one that does, through a call
    # or a fixture argument: reachability in that graph, found by growing the set to a fixed
    # point (a search per test from scratch took seconds per collection).
    edges = {
        name: {a for a in arguments[name] if a in functions} | {other for other in functions if other != name and other + "(" in text}
        for name, text in functions.items()
    }
    running = {name for name, text in functions.items() if any(word in text for word in _TOOL_WORDS)}
    grown = True
    while grown:
        reached = {name for name in functions if name not in running and edges[name] & running}
        running |= reached
        grown = bool(reached)
    return frozenset(name for name in running if name.startswith("test_"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = Path(str(item.fspath))
        if module.stem in _TOOL_MODULES or getattr(item, "originalname", item.name) in _tool_tests(str(module)):
            item.add_marker(pytest.mark.tools)
