"""The offline render: the README's main command, byte-identical on re-run, secrets masked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_render_is_deterministic_and_masks_secrets(tmp_path, stack):
    outputs = []
    for attempt in range(2):
        out = tmp_path / f"run{attempt}"
        # A fresh interpreter each time: nothing cached between runs can hide nondeterminism.
        proc = subprocess.run(
            [sys.executable, "-m", "tools.render", stack, "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "kubernetes:helm.sh/v3:Release" in proc.stdout
        outputs.append((out / "resources.json").read_bytes())
    assert outputs[0] == outputs[1]

    document = json.loads(outputs[0])
    assert document["placeholderSecrets"], "missing secrets must be listed as placeholders"
    text = outputs[0].decode()
    assert "placeholder-for-" not in text, "placeholder secret values must be masked too"
    assert "mock-generated-password" not in text
    grafana_secret = next(r for r in document["resources"] if r["name"] == "grafana-admin")
    # Masked at the leaf: the user name stays readable.
    assert grafana_secret["inputs"]["stringData"] == {"admin-password": "[secret]", "admin-user": "admin"}
    assert document["outputs"]["grafanaAdminPassword"] == "[secret]"
    names = [(r["type"], r["name"]) for r in document["resources"]]
    assert len(names) == len(set(names))


def test_render_reports_settings_errors_without_a_traceback(tmp_path):
    bad = tmp_path / "Pulumi.rendertest.yaml"
    bad.write_text("config:\n  dataops-monitoring:environment: QA_1\n  dataops-monitoring:clusterName: Bad_Name\n")
    proc = subprocess.run([sys.executable, "-m", "tools.render", "rendertest", "--stack-file", str(bad), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "dataops-monitoring:environment = 'QA_1'" in proc.stderr
    assert "dataops-monitoring:clusterName = 'Bad_Name'" in proc.stderr
