"""make import-commands (tools/import_commands.py), the render table's parent column, and
make slo-report reporting what a stack deploys."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tools import import_commands as ic
from tools.mock_engine import PROJECT, run_program, stack_config
from tools.render import table


@pytest.fixture(scope="module")
def prod():
    config, keys = stack_config("prod", placeholder_secrets=True)
    return run_program("prod", config, keys)


def parsed(command: str) -> dict:
    args = shlex.split(command)
    assert args[:4] == ["pulumi", "import", "--stack", "prod"], command
    out = {"type": args[4], "name": args[5], "id": args[6]}
    for flag in ("--parent", "--provider"):
        if flag in args:
            out[flag] = args[args.index(flag) + 1]
    out["generate"] = "--generate-code=false" in args
    return out


def test_every_object_lands_on_the_urn_the_program_registers(prod):
    text = ic.script("prod", prod)
    commands = [parsed(line) for line in text.splitlines() if line.startswith("pulumi import")]
    custom = [r for r in prod.registrations if r.custom and r.type.startswith("kubernetes:")]
    assert len(commands) == len(custom) > 50
    by_key = {(r.type, r.name): r for r in custom}
    for cmd in commands:
        reg = by_key[(cmd["type"], cmd["name"])]
        urn = ic.real_urn(reg.urn)
        assert "pulumi:pulumi:Stack" not in urn
        if "--parent" in cmd:
            parent_urn = cmd["--parent"].split("=", 1)[1]
            assert parent_urn == ic.real_urn(reg.parent)
            # The engine's URN for an import under that parent: urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>.
            parent_type = parent_urn.split("::")[2]
            assert urn == f"urn:pulumi:prod::{PROJECT}::{parent_type}${cmd['type']}::{cmd['name']}"
        else:
            assert urn == f"urn:pulumi:prod::{PROJECT}::{cmd['type']}::{cmd['name']}"
        assert cmd["--provider"] == f"kubernetes=urn:pulumi:prod::{PROJECT}::pulumi:providers:kubernetes::kubernetes"
        assert cmd["generate"]


def test_ids_are_namespace_and_name_or_just_the_name_when_cluster_scoped(prod):
    commands = {(c.type, c.name): c for c in ic.commands(prod)}
    assert commands[("kubernetes:core/v1:Namespace", "monitoring-namespace")].id == "monitoring"
    assert commands[("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack")].id == "monitoring/kube-prometheus-stack"
    minio = commands[("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "minio")]
    assert minio.id == "monitoring/minio"
    assert minio.parent == f"storage=urn:pulumi:prod::{PROJECT}::dataops:monitoring:StorageMonitoring::storage"


def test_parents_and_provider_are_created_first(prod):
    text = ic.script("prod", prod)
    up = next(line for line in text.splitlines() if line.startswith("pulumi up"))
    targets = set(shlex.split(up)[shlex.split(up).index("prod") + 1:][1::2])
    parents = {c.parent.split("=", 1)[1] for c in ic.commands(prod) if c.parent}
    assert parents <= targets
    assert f"urn:pulumi:prod::{PROJECT}::pulumi:providers:kubernetes::kubernetes" in targets
    assert text.index("\npulumi up ") < text.index("\npulumi import ")


def test_make_import_commands_prints_the_script():
    proc = subprocess.run([sys.executable, "-m", "tools.import_commands", "staging"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--parent storage=urn:pulumi:staging::dataops-monitoring::dataops:monitoring:StorageMonitoring::storage" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "tools.import_commands", "nosuchstack"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "no Pulumi.nosuchstack.yaml" in bad.stderr


def test_render_table_shows_each_resources_parent(prod):
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in table(prod).splitlines()[1:]}
    assert table(prod).splitlines()[0].split() == ["TYPE", "NAME", "NAMESPACE", "PARENT"]
    assert rows[("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "minio")] == "StorageMonitoring::storage"
    assert rows[("dataops:monitoring:StorageMonitoring", "storage")] == "-"


# --------------------------------------------------------------------------- slo-report


def test_slo_report_lists_only_the_alerts_the_stack_deploys():
    from tools.slo_report import deployed_rule_documents, not_deployed_alerts, report

    staging_text, staging_rows = report("staging")
    prod_text, prod_rows = report("prod")
    assert "PortalDown" in {r.alert for r in prod_rows}
    assert "PortalDown" not in {r.alert for r in staging_rows}, "staging probes no Portal"
    staging_docs = deployed_rule_documents("staging")
    assert "dataops-portal" not in staging_docs and "dataops-hive" not in staging_docs
    assert {"HiveMetastoreDown", "PortalDown"} <= set(not_deployed_alerts(staging_docs))
    assert staging_text.startswith(f"Stack staging deploys {len(staging_docs)} PrometheusRules")
    assert "not deployed here:" in staging_text and "HiveMetastoreDown" in staging_text.split("\n", 1)[0]
    assert {r.file for r in prod_rows} <= set(deployed_rule_documents("prod"))


def test_slo_report_for_a_stack_without_a_file():
    proc = subprocess.run([sys.executable, "-m", "tools.slo_report", "--stack", "dev"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Stack dev deploys ")
