"""The registry of platform layers (core/layers.py) and the "add a layer" recipe of docs/DEVELOPING.md.

Every consumer derives from the registry: platform availability, the dashboards' optional
rows, the components built. A layer whose settings are missing is an error, not a layer
counted as deployed. The recipe is followed verbatim in a copy of the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components import LAYER_DOMAINS
from core.layers import Layer, deployed_layers, layers
from dashboards.thresholds import OPTIONAL_PARTS
from tools.mock_engine import ROOT
from tools.stack_files import stack_file as sample_stack_file  # the sample under tests/stacks/samples (tests/conftest.py)

RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def test_every_listed_package_declares_its_layer_with_a_rule_file():
    registry = layers()
    assert [layer.name for layer in registry] == list(LAYER_DOMAINS)
    for layer in registry:
        assert (ROOT / "rules" / f"{layer.name}.rules.yaml").is_file(), layer.name
        re.compile(layer.jobs)


def test_dashboard_rows_of_layers_are_rows_the_dashboards_draw():
    parts = {layer.dashboard_part for layer in layers() if layer.dashboard_part}
    # service_probes is the one optional part that is not a layer (probe*Url settings).
    assert parts == set(OPTIONAL_PARTS) - {"service_probes"}


class _Settings:
    def __init__(self, enabled: bool):
        self.enabled = enabled


def _layer(name: str, optional: bool) -> Layer:
    return Layer(name, jobs=f"{name}.*", component=lambda *_: None, deployed=(lambda s: s.enabled) if optional else (lambda s: True))


def test_a_layer_counts_only_when_deployed():
    registry = (_layer("always", False), _layer("on", True), _layer("off", True))
    deployed = deployed_layers(registry, {"always": None, "on": _Settings(True), "off": _Settings(False)})
    assert [layer.name for layer in deployed] == ["always", "on"]


def test_a_layer_without_settings_is_an_error_not_counted_as_deployed():
    registry = (_layer("always", False), _layer("forgotten", True))
    with pytest.raises(KeyError, match="forgotten"):
        deployed_layers(registry, {"always": None})


def test_the_stack_counts_exactly_its_deployed_layers(staging_run):
    from tools.slo_rules import load_stack_settings

    settings = load_stack_settings("staging")
    expected = [layer.name for layer in deployed_layers(layers(), settings.domains)]
    rule = staging_run.one(RULE, "dataops-platform")
    expr = next(r["expr"] for g in rule.inputs["spec"]["groups"] for r in g["rules"] if r.get("record") == "dataops:platform:availability:by_layer")
    assert re.findall(r'label_replace\(up\{job=~"[^"]*"\}, "layer", "([a-z]+)"', expr) == expected
    assert not set(expected) & {layer.name for layer in layers() if layer.dashboard_part}, "the staging file turns no optional layer on"


# ------------------------------------------------------------------ the recipe, followed once

RECIPE_SECTION = "## How to add a layer: add one package"


def _recipe_files() -> dict[str, str]:
    """The files the recipe gives verbatim: fenced blocks whose first line names their path."""
    text = (ROOT / "docs" / "DEVELOPING.md").read_text(encoding="utf-8")
    section = text[text.index(RECIPE_SECTION) :]
    section = section[: section.index("\n## ", len(RECIPE_SECTION))]
    files = {}
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", section, re.S):
        first, rest = body.split("\n", 1)
        files[first.lstrip("# ").strip()] = rest
    return files


def _copy_repository(target: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in tracked:
        source = ROOT / name
        if name and source.is_file() and not name.startswith(("e2e/", "tests/")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_the_add_a_layer_recipe_works(tmp_path):
    files = _recipe_files()
    assert set(files) == {"components/redis/settings.py", "components/redis/__init__.py", "rules/redis.rules.yaml"}
    repo = tmp_path / "repo"
    _copy_repository(repo)
    for name, body in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(body, encoding="utf-8")
    # Step 4: one word in components/__init__.py.
    registry = repo / "components" / "__init__.py"
    text = registry.read_text(encoding="utf-8")
    last = f'"{LAYER_DOMAINS[-1]}")'
    assert text.count(last) == 1
    registry.write_text(text.replace(last, f'"{LAYER_DOMAINS[-1]}", "redis")'), encoding="utf-8")

    stack_file = tmp_path / "Pulumi.trial.yaml"
    base = sample_stack_file("staging").read_text(encoding="utf-8")

    def render(extra: str) -> dict:
        stack_file.write_text(base.rstrip("\n") + "\n" + extra, encoding="utf-8")
        out = tmp_path / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "tools.render", "staging", "--stack-file", str(stack_file), "--out", str(out)],
            cwd=repo, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(repo)},
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        return json.loads((out / "resources.json").read_text(encoding="utf-8"))

    def availability(document: dict) -> str:
        rule = next(r for r in document["resources"] if r["type"] == RULE and r["name"] == "dataops-platform")
        return next(r["expr"] for g in rule["inputs"]["spec"]["groups"] for r in g["rules"] if r.get("record") == "dataops:platform:availability:by_layer")

    def no_targets(document: dict) -> str:
        rule = next(r for r in document["resources"] if r["type"] == RULE and r["name"] == "dataops-platform")
        return next(r["expr"] for g in rule["inputs"]["spec"]["groups"] for r in g["rules"] if r.get("alert") == "DataOpsLayerNoTargets")

    on = render("  dataops-monitoring:redisNamespace: redis\n")
    by_type = {(r["type"], r["name"]): r for r in on["resources"]}
    assert ("dataops:monitoring:RedisMonitoring", "redis") in by_type
    monitor = by_type[("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "redis-exporter")]
    assert monitor["parent"] == "dataops:monitoring:RedisMonitoring::redis"
    redis_rule = by_type[(RULE, "dataops-redis")]
    alert = next(r for g in redis_rule["inputs"]["spec"]["groups"] for r in g["rules"] if r.get("alert") == "RedisDown")
    assert alert["annotations"]["runbook_url"].endswith("/RedisDown.md")
    # Counted, with its row in the availability-by-layer panel (one series per layer label).
    assert 'label_replace(up{job=~"(.+/)?redis.*"}, "layer", "redis", "", "")' in availability(on)
    assert 'label_replace(vector(1), "layer", "redis", "", "")' in no_targets(on)

    off = render("")
    assert not any("Redis" in r["type"] or r["name"] == "dataops-redis" for r in off["resources"])
    assert '"layer", "redis"' not in availability(off) and '"layer", "redis"' not in no_targets(off)
