"""checkov's Kubernetes checks (the scanner a security reviewer runs) on every object
the prod and staging stacks render themselves: no failure outside policy/checkov-skips.yaml.

checkov runs from .venv-checkov (requirements-checkov.txt, `make checkov-venv`; `make test`
builds it). The chart's own manifests are scanned by `make checkov-chart` (needs helm).
"""

from __future__ import annotations

import json

import pytest

from tools.checkov_scan import load_skips, manifests, outside, render_manifests, run_checkov, write_manifests

STACKS = ("prod", "staging")
_FAILURES: dict[str, list] = {}


def _failures(stack: str, tmp_path_factory) -> list:
    if stack not in _FAILURES:
        directory = render_manifests(stack, tmp_path_factory.mktemp(f"checkov-{stack}"))
        _FAILURES[stack] = run_checkov(directory)
    return _FAILURES[stack]


@pytest.mark.parametrize("stack", STACKS)
def test_our_objects_fail_no_checkov_check_outside_the_skip_list(stack, tmp_path_factory):
    left = outside(_failures(stack, tmp_path_factory), load_skips(), "ours")
    assert not left, "checkov failures outside policy/checkov-skips.yaml:\n" + "\n".join(map(str, left))


def test_every_skip_of_ours_is_still_needed(tmp_path_factory):
    failures = [f for stack in STACKS for f in _failures(stack, tmp_path_factory)]
    stale = [s.check_id for s in load_skips() if s.scope in ("ours", "all") and not any(s.covers(f, "ours") for f in failures)]
    assert not stale, f"skips no rendered object needs any more (remove them): {stale}"


def test_the_scan_reports_a_bad_pod_outside_the_skip_list(tmp_path):
    """The test can fail: a bare Deployment (no limits, root, token mounted) is reported."""
    bare = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "bare"}}, "template": {
            "metadata": {"labels": {"app": "bare"}},
            "spec": {"containers": [{"name": "bare", "image": "busybox:1.37.0"}]}}},
    }
    document = {"resources": [
        {"type": "kubernetes:apps/v1:Deployment", "inputs": bare},
        {"type": "kubernetes:helm.sh/v3:Release", "inputs": {"chart": "x"}},  # not a manifest
    ]}
    objects = manifests(json.loads(json.dumps(document)))
    assert objects == [bare]
    write_manifests(objects, tmp_path)
    failures = run_checkov(tmp_path)
    left = {f.check_id for f in outside(failures, load_skips(), "ours")}
    # CPU and memory limits, privilege escalation, token automount: reported and not skipped.
    assert {"CKV_K8S_11", "CKV_K8S_13", "CKV_K8S_20", "CKV_K8S_38"} <= left
    assert "CKV2_K8S_6" in {f.check_id for f in failures}  # no NetworkPolicy selects it


def test_every_skip_has_a_reason_and_a_known_scope(tmp_path):
    path = tmp_path / "skips.yaml"
    path.write_text("skips:\n  - id: CKV_K8S_1\n    scope: mine\n  - id: CKV_K8S_2\n    reason: because\n")
    with pytest.raises(ValueError, match="CKV_K8S_1.*reason.*scope must be"):
        load_skips(path)
    assert all(s.reason and s.scope in ("ours", "chart", "all") for s in load_skips())
