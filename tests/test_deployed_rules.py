"""The PrometheusRule CRs exactly as each stack deploys them pass promtool.

Rule files are checked as committed (tests/test_rules_promtool.py); this checks what the
components actually send, which settings shape: the platform rule narrowed to the deployed
layers, SLO rules generated from the stack's SLOs.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import PROJECT, with_secrets
from tests.live import tool

RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


@pytest.mark.parametrize(
    "stack,overrides",
    [
        ("prod", {}),
        ("staging", {}),
        # Without the Iceberg exporter the freshness SLO has no data: settings require clearing its tables.
        ("prod", {f"{PROJECT}:icebergExporterEnabled": False, f"{PROJECT}:sloFreshnessTables": [], f"{PROJECT}:gitopsEnabled": False, f"{PROJECT}:thanosEnabled": False}),
    ],
    ids=["prod", "staging", "prod-minimal"],
)
def test_every_deployed_rule_group_passes_promtool(run_stack, tmp_path, stack, overrides):
    promtool = tool("promtool")
    secrets = with_secrets() if stack == "prod" else with_secrets(("thanosAccessKey", "thanosSecretKey"))
    run = run_stack(stack, {**secrets, **overrides})
    rules = run.by_type(RULE_CR)
    assert len(rules) >= 8, [r.name for r in rules]
    files = []
    for rule in rules:
        path = tmp_path / f"{rule.name}.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": rule.inputs["spec"]["groups"]}, allow_unicode=True))
        files.append(str(path))
    proc = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # Group names are unique across the CRs: Prometheus would reject duplicates in one file
    # and they make rule evaluation metrics ambiguous across files.
    names = [g["name"] for r in rules for g in r.inputs["spec"]["groups"]]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_a_domain_turned_off_deploys_none_of_its_rules(run_stack, prod_run):
    """Iceberg and GitOps off: no PrometheusRule of theirs and none of their alerts anywhere."""
    overrides = {f"{PROJECT}:icebergExporterEnabled": False, f"{PROJECT}:sloFreshnessTables": [], f"{PROJECT}:gitopsEnabled": False, **with_secrets()}
    run = run_stack("prod", overrides)
    names = {r.name for r in run.by_type(RULE_CR)}
    assert "dataops-iceberg" not in names and "dataops-gitops" not in names
    components = {
        rule.get("labels", {}).get("component")
        for r in run.by_type(RULE_CR)
        for group in r.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert not components & {"iceberg", "gitops"}, components
    on = prod_run
    assert {"dataops-iceberg", "dataops-gitops"} <= {r.name for r in on.by_type(RULE_CR)}
