"""promtool validates every rule file and runs every rule unit test.

Without promtool the tests skip with the reason, except under CI (CI=true),
where a missing promtool is a failure: CI must not go green by skipping.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.live import tool
from rules_util import RULE_TESTS_DIR, RULES_DIR, iter_rules, load_rule_files, recorded_names

RULE_FILES = sorted(RULES_DIR.glob("*.rules.yaml"))
TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.test.yaml"))


def _promtool() -> str:
    return tool("promtool")  # the pinned promtool (make tools); fails under CI=true when missing


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_rule_and_test_files_exist():
    assert RULE_FILES, f"no *.rules.yaml in {RULES_DIR}"
    assert TEST_FILES, f"no *.test.yaml in {RULE_TESTS_DIR}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path):
    result = _run([_promtool(), "check", "rules", str(rule_file)], cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path):
    # rule_files in a test file are relative to the test file's directory.
    result = _run([_promtool(), "test", "rules", test_file.name], cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_has_a_test_file():
    tested = set()
    for test_file in TEST_FILES:
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        for rel in doc.get("rule_files", []):
            tested.add((test_file.parent / rel).resolve())
    missing = [p.name for p in RULE_FILES if p.resolve() not in tested]
    assert not missing, f"rule files without a promtool test: {missing}"


def _exercised_names() -> set[str]:
    """Recorded names that some test case asserts on (expr or exp_samples labels)."""
    recorded = recorded_names()
    exercised: set[str] = set()
    for test_file in TEST_FILES:
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        for case in doc.get("tests", []) or []:
            for check in case.get("promql_expr_test", []) or []:
                texts = [check.get("expr", "")]
                texts += [s.get("labels", "") for s in check.get("exp_samples", []) or []]
                for text in texts:
                    exercised |= {n for n in recorded if _mentions(text, n)}
    return exercised


def _mentions(text: str, name: str) -> bool:
    start = text.find(name)
    while start != -1:
        end = start + len(name)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before in "_:") and not (after.isalnum() or after in "_:"):
            return True
        start = text.find(name, start + 1)
    return False


def test_every_recording_rule_is_exercised_by_a_unit_test():
    missing = sorted(recorded_names() - _exercised_names())
    assert not missing, f"recording rules no promtool test case asserts on: {missing}"


def test_recording_rule_names_follow_the_dataops_convention():
    bad = sorted(
        rule["record"]
        for _, _, rule in iter_rules()
        if "record" in rule and not rule["record"].startswith("dataops:")
    )
    assert not bad, f"recording rules outside the dataops:<domain>:<what> scheme: {bad}"


def test_rule_files_are_plain_prometheus_rule_files():
    for path, doc in load_rule_files().items():
        assert isinstance(doc, dict) and set(doc) == {"groups"}, (
            f"{path.name}: top level must be exactly 'groups:' (no PrometheusRule wrapper)"
        )
