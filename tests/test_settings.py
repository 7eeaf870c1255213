"""Settings validation: every bad input is reported at once, naming key, value and fix."""

from __future__ import annotations

import pytest
import yaml

from settings import PROJECT, SettingsError, parse_duration, parse_quantity
from tests.conftest import ROOT, random_secret
from tests.settings_util import load

BASE = {"environment": "staging", "clusterName": "dataops-staging", "thanosEnabled": False}


def problems_for(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as excinfo:
        load(values)
    return excinfo.value.problems


def only_problem(values: dict) -> str:
    problems = problems_for(values)
    assert len(problems) == 1, problems
    return problems[0]


def test_minimal_staging_config_loads_with_prod_defaults_from_the_guide():
    settings = load(BASE)
    assert settings.environment == "staging"
    assert settings.prometheus.retention == "15d"
    assert settings.prometheus.storage_size == "50Gi"
    assert settings.storage_class == "longhorn"
    assert settings.prometheus.resources.cpu_request == "2000m"
    assert settings.prometheus.resources.memory_limit == "16Gi"
    assert settings.external_labels == {"cluster": "dataops-staging", "environment": "staging", "platform": "dataops"}
    assert [s.name for s in settings.slos] == ["platform-availability", "pipeline-latency"]


@pytest.mark.parametrize("text,seconds", [("15d", 15 * 86400), ("1h", 3600), ("1h30m", 5400), ("30s", 30), ("1y", 365 * 86400), ("500ms", 0.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15 days", "15D", "", "h", "-1d", "1.5h", "0s"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text,value", [("50Gi", 50 * 2**30), ("2000m", 2.0), ("2", 2.0), ("512Mi", 512 * 2**20), ("1.5", 1.5)])
def test_quantities(text, value):
    assert parse_quantity(text) == value


def test_bad_duration_names_key_value_and_fix():
    problem = only_problem({**BASE, "prometheusRetention": "15 days"})
    assert f"{PROJECT}:prometheusRetention" in problem
    assert "'15 days'" in problem
    assert f"pulumi config set {PROJECT}:prometheusRetention 15d" in problem


def test_bad_quantity_names_key_value_and_fix():
    problem = only_problem({**BASE, "prometheusStorageSize": "50GB"})
    assert "prometheusStorageSize" in problem and "'50GB'" in problem
    assert f"pulumi config set {PROJECT}:prometheusStorageSize 50Gi" in problem


def test_milli_bytes_are_a_typo_for_mebibytes():
    problem = only_problem({**BASE, "prometheusMemoryRequest": "512m"})
    assert "Mi" in problem and "prometheusMemoryRequest" in problem


def test_request_above_limit_is_rejected():
    problem = only_problem({**BASE, "prometheusCpuRequest": "8", "prometheusCpuLimit": "4000m"})
    assert "prometheusCpuRequest" in problem and "prometheusCpuLimit" in problem


def test_unknown_key_is_reported_with_a_suggestion():
    problem = only_problem({**BASE, "prometheusRetension": "15d"})
    assert f"{PROJECT}:prometheusRetension is not a known setting" in problem
    assert f"Did you mean {PROJECT}:prometheusRetention" in problem
    assert f"pulumi config rm {PROJECT}:prometheusRetension" in problem


def test_wrong_types_are_reported():
    problems = problems_for({**BASE, "prometheusReplicas": "two", "thanosInsecure": "yes", "sparkNamespaces": "spark-jobs"})
    joined = "\n".join(problems)
    assert len(problems) == 3, problems
    assert "prometheusReplicas = 'two': not an integer" in joined
    assert "thanosInsecure = 'yes': not a boolean" in joined
    assert "sparkNamespaces" in joined


def test_ratio_must_be_strictly_between_zero_and_one():
    slo = {"name": "x", "objective": 1.0, "errorRatio": "1 - avg_over_time(up[${window}])"}
    problem = only_problem({**BASE, "slos": [slo]})
    assert "slos[0].objective = 1.0" in problem and "between 0 and 1" in problem


def test_slo_expression_must_take_the_window():
    problem = only_problem({**BASE, "slos": [{"name": "x", "objective": 0.99, "errorRatio": "1 - avg_over_time(up[1h])"}]})
    assert "${window}" in problem


def test_missing_required_keys_are_all_reported():
    # Outside the dev profile (which names the cluster dataops-<stack>) clusterName is required.
    problems = problems_for({"thanosEnabled": False, "profile": "staging"})
    assert any(f"{PROJECT}:clusterName is not set" in p and f"{PROJECT}:clusterName dataops-test" in p for p in problems), problems


def test_prod_requires_secrets_that_staging_may_omit():
    load({**BASE})  # staging: no PagerDuty, no Slack
    problems = problems_for({**BASE, "environment": "prod"})
    joined = "\n".join(problems)
    assert f"pulumi config set --secret {PROJECT}:pagerdutyRoutingKey" in joined
    assert f"pulumi config set --secret {PROJECT}:slackWebhookUrl" in joined


def test_prod_requires_ha_replicas():
    values = {**BASE, "environment": "prod", "prometheusReplicas": 1, "alertmanagerReplicas": 1,
              "pagerdutyRoutingKey": random_secret("pd"), "slackWebhookUrl": random_secret("slack")}
    joined = "\n".join(problems_for(values))
    assert "prometheusReplicas = 1" in joined and "alertmanagerReplicas = 1" in joined


def test_secret_stored_in_plain_text_is_rejected_without_echoing_it():
    problem = only_problem({**BASE, "slackWebhookUrl": "plain-text-webhook-value"})
    assert "stored in plain text" in problem
    assert "plain-text-webhook-value" not in problem
    assert f"pulumi config set --secret {PROJECT}:slackWebhookUrl" in problem


def test_thanos_enabled_needs_bucket_and_credentials():
    problems = problems_for({**BASE, "thanosEnabled": True})
    joined = "\n".join(problems)
    for key in ("thanosBucket", "thanosEndpoint", "thanosAccessKey", "thanosSecretKey"):
        assert f"{PROJECT}:{key} is not set (Thanos is enabled)" in joined
    assert len(problems) == 4


def test_downsampled_retention_shorter_than_raw_is_rejected():
    # 20d: above the compactor's 10d floor for 5m blocks (tests/test_settings_corpus.py), below raw.
    problem = only_problem({**BASE, "thanosRetentionRaw": "30d", "thanosRetention5m": "20d", "thanosRetention1h": "1y"})
    assert "thanosRetention5m = '20d' is shorter than" in problem


def test_all_problems_in_one_message():
    with pytest.raises(SettingsError) as excinfo:
        load({**BASE, "prometheusRetention": "x", "prometheusStorageSize": "y", "bogusKey": "1"})
    message = str(excinfo.value)
    assert message.startswith("Invalid stack configuration (3 problems):")
    assert message.count("\n  - ") == 3


def test_optional_key_declared_empty_by_the_cli_counts_as_unset():
    settings = load({**BASE, "thanosBucket": "", "pagerdutyRoutingKey": ""})
    assert settings.routing.pagerduty_routing_key is None


def test_pulumi_yaml_is_generated_from_the_schema():
    from tools.pulumi_yaml import render

    assert (ROOT / "Pulumi.yaml").read_text() == render(), "run `make pulumi-yaml`"


def test_pulumi_yaml_declares_nothing_the_real_cli_would_require_or_refuse():
    # The CLI requires every declared key without a default (before the program can say which
    # fix applies) and refuses the whole project when a default's type differs from the
    # declared one (found by the first real `pulumi stack init`: protectResources had "").
    python_type = {"string": str, "integer": int, "boolean": bool, "array": list}
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, entry in declared.items():
        assert "default" in entry, f"{key}: declared without a default, the CLI would require it"
        assert type(entry["default"]) is python_type[entry["type"]], f"{key}: default {entry['default']!r} is not a {entry['type']}"


def test_pulumi_yaml_leaves_profile_defaults_and_required_keys_to_the_program():
    # The CLI passes a declared default as if the stack had set it: declared, thanosEnabled's
    # default hid the dev profile's false and a dev stack asked for a bucket (make e2e).
    from settings import DEV_PROFILE, SCHEMA_BY_KEY

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key in DEV_PROFILE:
        assert key not in declared, f"{key}: the dev profile overrides its default"
    for key in declared:
        setting = SCHEMA_BY_KEY[key]
        assert setting.default is not None or setting.optional, f"{key}: required, the CLI would ask for it first"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_stack_files_use_only_known_keys_and_hold_no_plaintext_secret(stack):
    from settings import SCHEMA_BY_KEY

    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    for full, value in config.items():
        project, key = full.split(":", 1)
        assert project == PROJECT and key in SCHEMA_BY_KEY, full
        if SCHEMA_BY_KEY[key].secret:
            assert isinstance(value, dict) and set(value) == {"secure"}, f"{full} must be set with --secret"


def test_readme_settings_table_matches_the_schema():
    from tools.settings_table import rewrite_readme

    text = (ROOT / "README.md").read_text()
    assert rewrite_readme(text) == text, "run `make pulumi-yaml` (it also rewrites the README table)"


def test_slo_window_longer_than_retention_is_a_warning_not_an_error(monkeypatch):
    import pulumi

    warnings = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    settings = load({**BASE, "prometheusRetention": "15d"})
    assert settings.slos  # loaded: a warning, not a problem
    assert any("platform-availability: window 30d is longer than" in w and "last 15d only" in w for w in warnings), warnings
    warnings.clear()
    load({**BASE, "prometheusRetention": "30d"})
    assert warnings == []


@pytest.mark.parametrize("tag", ["a0b1c2d3e4f5061728394a5b6c7d8e9f00112233", "5f1d0c3b9e8a7d6c5b4a39281706f5e4d3c2b1a0", "a0b1c2d", "v0.42.4", "0.1.0"])
def test_an_image_tagged_with_its_commit_or_a_version_is_pinned(tag):
    # The Jenkinsfile tags the exporter image with the full commit SHA; the e2e, running its
    # steps for real, found a SHA starting with a letter refused.
    from core.parsers import image_ref

    assert image_ref(f"registry.dataops.internal/dataops/iceberg-exporter:{tag}")


@pytest.mark.parametrize("tag", ["latest", "stable", "main", "a0b1c2", "g0b1c2d3"])
def test_a_floating_or_unversioned_tag_is_still_refused(tag):
    from core.parsers import image_ref

    with pytest.raises(ValueError):
        image_ref(f"registry.dataops.internal/dataops/iceberg-exporter:{tag}")


# ---------------------------------------------------------------- SLO burn tiers (components/slo/burn.py)


def _pairs(window: str) -> list[tuple]:
    from components.slo.burn import policies

    return [(p.severity, p.factor, p.long_window, p.short_window, p.budget_share) for p in policies(window).all]


def test_burn_tiers_follow_the_slo_window():
    # 30d: the SRE workbook's table 5-8, to the digit.
    assert _pairs("30d") == [
        ("critical", 14.4, "1h", "5m", "1시간에 예산의 2%"),
        ("critical", 6, "6h", "30m", "6시간에 예산의 5%"),
        ("high", 3, "1d", "2h", "1일에 예산의 10%"),
        ("medium", 1, "3d", "6h", "3일에 예산의 10%"),
    ]
    # 7d: the same shares in windows a quarter as long (1/720 of 7d = 14m; short = long/12, at least 5m).
    assert _pairs("7d") == [
        ("critical", 14.4, "14m", "5m", "14분에 예산의 2%"),
        ("critical", 6, "1h24m", "7m", "1시간 24분에 예산의 5%"),
        ("high", 3, "5h36m", "28m", "5시간 36분에 예산의 10%"),
        ("medium", 1, "16h48m", "1h24m", "16시간 48분에 예산의 10%"),
    ]
    # 60d: the 6d ticket is capped at 3d and keeps its 10 % share: factor 0.1 * 60 / 3 = 2.
    assert _pairs("60d")[-1] == ("medium", 2, "3d", "6h", "3일에 예산의 10%")
    # 90d: 9d is capped onto the 3d of the tier before it and dropped.
    assert _pairs("90d") == [
        ("critical", 14.4, "3h", "15m", "3시간에 예산의 2%"),
        ("critical", 6, "18h", "1h30m", "18시간에 예산의 5%"),
        ("high", 3, "3d", "6h", "3일에 예산의 10%"),
    ]
    # Every pair, every accepted window: share = factor * long / window (what the text promises).
    from core.parsers import parse_duration

    for window in ("3d", "5d", "7d", "14d", "28d", "30d", "45d", "60d", "89d", "90d"):
        for _severity, factor, long_w, short_w, text in _pairs(window):
            share = factor * parse_duration(long_w) / parse_duration(window)
            assert text.endswith(f"예산의 {share * 100:.3g}%"), (window, long_w, text)
            assert parse_duration(long_w) <= 3 * 86400 and parse_duration(short_w) >= 300


def _slo(objective: float, window: str = "30d") -> dict:
    return {"name": "x", "objective": objective, "window": window, "errorRatio": "1 - avg_over_time(up[${window}])"}


def test_slo_objectives_whose_page_can_never_fire_are_rejected_once():
    problem = only_problem({**BASE, "slos": [_slo(0.9)]})
    # 14.4 x (1 - 0.9) = 1.44: the 1h/5m error ratio would have to exceed 144 %.
    assert "slos[0].objective = 0.9" in problem and "1h/5m" in problem and "1.44" in problem
    fix = f"pulumi config set --path '{PROJECT}:slos[0].objective' 0.9306"
    assert problem.endswith(fix), problem
    # The fix works, and it is the smallest objective (4 decimals) that does.
    load({**BASE, "slos": [_slo(0.9306)]})
    assert "0.9306" in only_problem({**BASE, "slos": [_slo(0.9305)]})
    # The window counts: a 100h SLO's 8m tier has factor 15, so 0.9306 is not enough there.
    problem = only_problem({**BASE, "slos": [_slo(0.9306, "100h")]})
    assert "8m/5m" in problem and "(15x," in problem and problem.endswith(f"'{PROJECT}:slos[0].objective' 0.9334")
    load({**BASE, "slos": [_slo(0.9334, "100h")]})
    # The default SLOs (0.999, 0.95, 0.99) all pass.
    load(BASE)
