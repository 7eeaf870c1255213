"""Any stack name, the profile apart from the environment label, an explicit cluster everywhere,
fix hints from the stack's own name, and a render that says what it filled in.

Inputs are the tests' own: tests/stacks/Pulumi.qa.yaml and literal settings, never the
repository's Pulumi.<stack>.yaml beyond checking that they render.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import PROJECT, SettingsError
from tests.conftest import random_secret
from tests.settings_util import load
from tools import render
from tools.mock_engine import run_program, stack_config

QA = Path(__file__).parent / "stacks" / "Pulumi.qa.yaml"
SECRET = "kubernetes:core/v1:Secret"
AM_CONFIG = "alertmanager-dataops"


def _qa_run(**overrides):
    config, keys = stack_config("qa", placeholder_secrets=False, path=QA, overrides={f"{PROJECT}:{k}": v for k, v in overrides.items()})
    return run_program("qa", config, keys)


def test_a_qa_stack_keeps_its_own_label_with_the_staging_profile():
    run = _qa_run(slackWebhookUrl=random_secret("slackWebhookUrl"))
    assert run.stack_outputs["environment"] == "qa"
    values = run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack").inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["externalLabels"]["environment"] == "qa"
    # The staging profile: no dev downsizing (dev keeps 2d), no prod protection.
    assert values["prometheus"]["prometheusSpec"]["retention"] != "2d"
    assert not run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack").protect
    config_text = str(run.one(SECRET, AM_CONFIG).inputs["stringData"].value)
    assert "[qa]" in config_text and "[staging]" not in config_text


def test_profile_and_environment_default_from_the_stack_name():
    qa = load({"kubeContext": "c"}, stack="qa")
    assert (qa.environment, qa.profile, qa.cluster_name) == ("qa", "dev", "dataops-qa")
    staging_named = load({"environment": "staging", "clusterName": "c", "thanosEnabled": False}, stack="anything")
    assert (staging_named.environment, staging_named.profile) == ("staging", "staging")
    with pytest.raises(SettingsError) as err:
        load({"environment": "Not A Label"}, stack="qa")
    assert f"{PROJECT}:environment = 'Not A Label'" in str(err.value)


def test_every_profile_names_its_cluster_and_dev_may_opt_in_to_the_current_context():
    for profile in ("dev", "staging"):
        with pytest.raises(SettingsError) as err:
            load({"kubeContext": None, "profile": profile, "clusterName": "c", "thanosEnabled": False}, stack="trial")
        message = str(err.value)
        assert f"{PROJECT}:kubeContext is not set" in message and f"pulumi config set {PROJECT}:allowCurrentContext true" in message
    trial = load({"allowCurrentContext": True}, stack="trial")
    assert trial.cluster.context is None and trial.cluster.kubeconfig is None
    with pytest.raises(SettingsError) as err:
        load({"allowCurrentContext": True, "profile": "prod", "clusterName": "c"}, stack="trial")
    assert "allowCurrentContext is true in a prod-profile stack" in str(err.value)


def test_fix_hints_use_the_stacks_own_name():
    with pytest.raises(SettingsError) as err:
        load({"profile": "staging", "thanosEnabled": True, "thanosEndpoint": "minio.storage.svc:9000"}, stack="qa")
    message = str(err.value)
    assert f"pulumi config set {PROJECT}:clusterName dataops-qa" in message
    assert f"pulumi config set {PROJECT}:thanosBucket dataops-thanos-qa" in message
    assert "dataops-prod" not in message and "dataops-thanos " not in message and "environment prod" not in message


def test_render_of_any_stack_name_explains_itself(tmp_path, capsys):
    assert render.main(["qa-trial", "--out", str(tmp_path)]) == 0  # no stack file: defaults, dev profile
    err = capsys.readouterr().err
    assert "no Pulumi.qa-trial.yaml" in err and "pulumi stack init qa-trial" in err
    assert "Placeholder secrets (NOT in the stack file" in err and "kubeconfig" in err


def test_the_dev_profile_deploys_only_what_a_laptop_trial_needs():
    """No stack file: no Spark, Trino or MinIO monitoring (their namespaces and services are not on
    a laptop), no Thanos, Iceberg or GitOps (outside credentials); Airflow's statsd_exporter is ours."""
    config, keys = stack_config("laptop", placeholder_secrets=False, path=QA.parent / "Pulumi.no-such-file.yaml",
                                overrides={f"{PROJECT}:allowCurrentContext": True})
    run = run_program("laptop", config, keys)
    types = {r.type for r in run.registrations}
    for off in ("SparkMonitoring", "TrinoMonitoring", "Thanos", "IcebergExporter", "GitOpsMonitoring"):
        assert f"dataops:monitoring:{off}" not in types, off
    assert "dataops:monitoring:AirflowMonitoring" in types
    assert "minio" not in {r.name for r in run.registrations if r.type.endswith(":ServiceMonitor")}
    # Turned on again with one setting each, as the profile's comment promises.
    config, keys = stack_config("laptop", placeholder_secrets=False, path=QA.parent / "Pulumi.no-such-file.yaml",
                                overrides={f"{PROJECT}:allowCurrentContext": True, f"{PROJECT}:sparkEnabled": True})
    assert "dataops:monitoring:SparkMonitoring" in {r.type for r in run_program("laptop", config, keys).registrations}


def test_strict_render_fails_where_pulumi_up_would(tmp_path, capsys):
    prod_like = tmp_path / "Pulumi.prodlike.yaml"
    prod_like.write_text(
        "config:\n  dataops-monitoring:profile: prod\n  dataops-monitoring:clusterName: dataops-prodlike\n"
        "  dataops-monitoring:thanosBucket: b\n  dataops-monitoring:thanosEndpoint: s3.example.com\n"
        "  dataops-monitoring:portalUrls: [\"https://portal.example.com/healthz\"]\n"
        "  dataops-monitoring:prometheusReplicas: 2\n  dataops-monitoring:alertmanagerReplicas: 3\n  dataops-monitoring:thanosQueryReplicas: 2\n"
        "  dataops-monitoring:icebergExporterEnabled: false\n",
        encoding="utf-8",
    )
    assert render.main(["prodlike", "--stack-file", str(prod_like), "--out", str(tmp_path / "lax")]) == 0
    lax = capsys.readouterr().err
    assert "without pagerdutyRoutingKey" in lax and "without slackWebhookUrl" in lax and "no cluster to deploy to" in lax
    assert render.main(["prodlike", "--stack-file", str(prod_like), "--out", str(tmp_path / "strict"), "--strict"]) == 2
    strict = capsys.readouterr().err
    for key in ("kubeContext", "pagerdutyRoutingKey", "slackWebhookUrl", "deadMansSwitchUrl", "thanosAccessKey"):
        assert f"{PROJECT}:{key} is not set" in strict, key


def test_the_programs_warnings_are_printed(tmp_path, capsys):
    # No Thanos Ruler and 3d of retention: the 30d SLO windows draw a warning from the program.
    assert render.main(["qa", "--stack-file", str(QA), "--out", str(tmp_path)]) == 0
    assert "warning: SLO platform-availability: window 30d is longer than" in capsys.readouterr().err


@pytest.mark.parametrize("stack_file", sorted((Path(__file__).parent.parent).glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_stack_file_present_renders(stack_file, tmp_path):
    stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
    assert render.main([stack, "--stack-file", str(stack_file), "--out", str(tmp_path)]) == 0
