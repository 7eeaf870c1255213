"""tools/review_diff (make diff): the reviewer's report of what a change deploys.

Renders come from ``HEAD`` through the tool's own worktree path (``tools.render`` run in
a detached worktree), so the report tests do not depend on edits in progress in the
working tree. One render feeds the report tests; the end-to-end test renders twice.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, with_secrets
from tools import review_diff as rd
from tools.stack_files import stack_file as sample_stack_file  # the sample under tests/stacks/samples (tests/conftest.py)

STACK = "prod"
SECTIONS = re.compile(r"^## (.+)$", re.M)


@pytest.fixture(scope="module")
def base_doc() -> dict:
    return rd.render_ref("HEAD", STACK).document


def _resource(doc: dict, type_suffix: str, name: str) -> dict:
    found = [r for r in doc["resources"] if r["type"].endswith(type_suffix) and r["name"] == name]
    assert len(found) == 1, f"{type_suffix} {name} not in the render"
    return found[0]


def _rules(doc: dict, rule_name: str):
    for group in _resource(doc, ":PrometheusRule", rule_name)["inputs"]["spec"]["groups"]:
        yield from group["rules"]


def _report(base: dict, head: dict) -> tuple[str, bool]:
    return rd.report(rd.Render("base", base), rd.Render("head", head), STACK)


def _write(tmp_path, name: str, doc: dict):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return path


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r} in:\n{text}"
    return match.group(1)


def known_changes(base: dict) -> tuple[dict, str]:
    """A copy of the render with one change of each kind; returns it and the injected value."""
    head = copy.deepcopy(base)
    injected = f"test-injected-{secrets.token_hex(8)}"
    # Alert threshold 0.05 -> 0.5.
    alert = next(r for r in _rules(head, "dataops-thanos") if r.get("alert") == "ThanosQueryHttpRequestQueryErrorRateHigh")
    assert "> 0.05" in alert["expr"]
    alert["expr"] = alert["expr"].replace("> 0.05", "> 0.5")
    # A receiver removed from the Alertmanager config (in its Secret).
    am = _resource(head, ":Secret", "alertmanager-dataops")["inputs"]["stringData"]
    config = yaml.safe_load(am["alertmanager.yaml"])
    config["receivers"] = [r for r in config["receivers"] if r["name"] != "slack-medium"]
    am["alertmanager.yaml"] = yaml.safe_dump(config, sort_keys=True)
    # SLO objective 0.999 -> 0.995.
    objective = next(r for r in _rules(head, "dataops-slo")
                     if r.get("record") == "dataops:slo:objective" and r["labels"]["slo"] == "platform-availability")
    assert objective["expr"] == "vector(0.999)"
    objective["expr"] = "vector(0.995)"
    # Helm value.
    spec = _resource(head, ":Release", "kube-prometheus-stack")["inputs"]["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "15d"
    spec["retention"] = "30d"
    # A dashboard panel removed.
    data = _resource(head, ":ConfigMap", "grafana-dashboard-02-dataops-resource-capacity")["inputs"]["data"]
    key = next(iter(data))
    board = json.loads(data[key])
    board["panels"] = [p for p in board["panels"] if p.get("title") != "메모리 사용률 (Memory usage)"]
    data[key] = json.dumps(board, sort_keys=True)
    # A secret's masked marker replaced by a value (as if it leaked into the render).
    creds = _resource(head, ":Secret", "iceberg-exporter-credentials")["inputs"]["stringData"]
    assert creds["s3-secret-access-key"] == "[secret]"
    creds["s3-secret-access-key"] = injected
    return head, injected


def test_known_changes_give_exactly_their_sections(base_doc, tmp_path):
    head, injected = known_changes(base_doc)
    text, changed = _report(base_doc, head)
    assert changed
    assert SECTIONS.findall(text) == ["Resources", "Alerts", "Recording rules", "Alertmanager", "SLOs",
                                      "Helm values", "Dashboards", "Secrets"]
    assert injected not in text

    rows = set(re.findall(r"^\| changed \| `([^`]+)` \| `([^`]+)` \| [^|]+ \|$", _section(text, "Resources"), re.M))
    assert rows == {
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "dataops-thanos"),
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "dataops-slo"),
        ("kubernetes:core/v1:Secret", "alertmanager-dataops"),
        ("kubernetes:core/v1:Secret", "iceberg-exporter-credentials"),
        ("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack"),
        ("kubernetes:core/v1:ConfigMap", "grafana-dashboard-02-dataops-resource-capacity"),
    }

    alerts = _section(text, "Alerts")
    assert "`ThanosQueryHttpRequestQueryErrorRateHigh` (dataops-thanos / thanos, severity `high`)" in alerts
    assert "Changed values: **0.05 → 0.5**" in alerts
    expr_row = next(line for line in alerts.splitlines() if line.startswith("| expr |"))
    old_cell, new_cell = expr_row[2:-2].split(" | ")[1:]
    assert old_cell.endswith("**`0.05`**") and new_cell.endswith("**`0.5`**")  # the threshold stands out
    assert old_cell.count("**") == 2 and new_cell.count("**") == 2  # and nothing else does
    assert "dataops:slo:objective" in _section(text, "Recording rules")

    alertmanager = _section(text, "Alertmanager")
    assert "- removed: `slack-medium` (slack (#dataops-alerts))" in alertmanager
    assert "a route sends to `slack-medium`, which is not a receiver" in alertmanager
    assert "#### Timings" not in alertmanager and "#### Inhibitions" not in alertmanager

    assert "| `platform-availability` | objective | **`0.999`** | **`0.995`** |" in _section(text, "SLOs")
    assert "- `prometheus.prometheusSpec.retention`: `15d` → **`30d`**" in _section(text, "Helm values")
    assert "- panel removed: `메모리 사용률 (Memory usage)` (stat)" in _section(text, "Dashboards")

    secrets_text = _section(text, "Secrets")
    assert "| `iceberg-exporter-credentials` | changed |" in secrets_text
    assert "| `alertmanager-dataops` | changed |" in secrets_text
    assert "`grafana-admin`" in secrets_text.split("Unchanged:")[1]

    # The CLI on the two files: --fail-on-change exits 1, --out holds the same report.
    base_path, head_path = _write(tmp_path, "base.json", base_doc), _write(tmp_path, "head.json", head)
    out = tmp_path / "report" / "review.md"
    proc = subprocess.run([sys.executable, "-m", "tools.review_diff", "--base-render", str(base_path),
                           "--head-render", str(head_path), "--fail-on-change", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert out.read_text() == proc.stdout
    assert SECTIONS.findall(proc.stdout) == SECTIONS.findall(text)
    assert injected not in proc.stdout


def test_alertmanager_timings_routes_inhibitions_and_rules_added_removed(base_doc):
    head = copy.deepcopy(base_doc)
    am = _resource(head, ":Secret", "alertmanager-dataops")["inputs"]["stringData"]
    config = yaml.safe_load(am["alertmanager.yaml"])
    config["route"]["group_wait"] = "1m"
    critical = next(r for r in config["route"]["routes"] if r.get("matchers") == ['severity="critical"'])
    critical["repeat_interval"] = "30m"
    config["inhibit_rules"] = config["inhibit_rules"][:1]
    am["alertmanager.yaml"] = yaml.safe_dump(config, sort_keys=True)
    rules = _resource(head, ":PrometheusRule", "dataops-thanos")["inputs"]["spec"]["groups"][0]["rules"]
    removed = next(r for r in rules if "alert" in r)
    rules.remove(removed)
    rules.append({"alert": "ReviewDiffNewAlert", "expr": "up == 0", "for": "5m", "labels": {"severity": "medium"}})

    text, _ = _report(base_doc, head)
    assert SECTIONS.findall(text) == ["Resources", "Alerts", "Alertmanager", "Secrets"]
    alertmanager = _section(text, "Alertmanager")
    assert "| route.group_wait | `30s` | **`1m`** |" in alertmanager
    assert '- `severity="critical"`: repeat_interval `1h` → **`30m`**' in alertmanager
    assert '- removed: `alertname="InfoInhibitor" ⇒ mutes severity="info" (equal: namespace)`' in alertmanager
    alerts = _section(text, "Alerts")
    assert "### Added (1)" in alerts and "`ReviewDiffNewAlert`" in alerts
    assert "### Removed (1)" in alerts and f"`{removed['alert']}`" in alerts


def test_same_render_twice_is_no_changes(base_doc, tmp_path, capsys):
    path = _write(tmp_path, "render.json", base_doc)
    assert rd.main(["--base-render", str(path), "--head-render", str(path), "--fail-on-change"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("No changes.")
    assert not SECTIONS.findall(out)


# Runs inside a HEAD worktree: the program under the mock engine with random secrets
# (tests/conftest.with_secrets, read from stdin), rendered *without* value masking, so the
# renders handed to review_diff really hold the secret values.
_LEAKY_RENDER = r"""
import dataclasses, json, sys
from tools.mock_engine import PROJECT, Secret, run_program, stack_config
from tools.render import render_document
out = []
for values in json.load(sys.stdin):
    overrides = {f"{PROJECT}:{k}": Secret(v) for k, v in values.items()}
    config, keys = stack_config("prod", placeholder_secrets=True, overrides=overrides)
    run = dataclasses.replace(run_program("prod", config, keys), secret_values=frozenset())
    out.append({"stack": "prod", "placeholderSecrets": [], "resources": render_document(run), "outputs": {}})
json.dump(out, sys.stdout)
"""


def test_secret_values_never_reach_the_report():
    sides = [{k.split(":", 1)[1]: s.value for k, s in with_secrets().items()} for _ in range(2)]
    with rd.worktree(rd.resolve_ref("HEAD")) as tree:
        proc = subprocess.run([rd._python(), "-c", _LEAKY_RENDER], cwd=tree, input=json.dumps(sides),
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    base, head = json.loads(proc.stdout)
    # Inline credentials in the Alertmanager config too (routing_key instead of routing_key_file).
    for doc, values in ((base, sides[0]), (head, sides[1])):
        am = _resource(doc, ":Secret", "alertmanager-dataops")["inputs"]["stringData"]
        config = yaml.safe_load(am["alertmanager.yaml"])
        pagerduty = next(r for r in config["receivers"] if r["name"] == "pagerduty-critical")
        pagerduty["pagerduty_configs"][0]["routing_key"] = values["pagerdutyRoutingKey"]
        am["alertmanager.yaml"] = yaml.safe_dump(config, sort_keys=True)
    everything = [v for side in sides for v in side.values()]
    rendered = json.dumps([base, head])
    assert all(v in rendered for v in everything), "the renders must hold the values, or this test proves nothing"

    text, changed = _report(base, head)
    assert changed
    for value in everything:
        assert value not in text
    assert "- changed: `pagerduty-critical`: `pagerduty_configs[0].routing_key` changed (value not shown)" in text
    secrets_text = _section(text, "Secrets")
    for name in ("alertmanager-dataops-credentials", "thanos-objstore", "alertmanager-dataops"):
        assert f"| `{name}` | changed |" in secrets_text


def test_worktree_path_end_to_end(tmp_path):
    """Two renders of HEAD, each in its own temporary worktree, removed afterwards.

    HEAD is pinned to its sha first: others commit to this branch while the test runs.
    """
    sha = rd.resolve_ref("HEAD")
    out = tmp_path / "review.md"
    proc = subprocess.run([sys.executable, "-m", "tools.review_diff", STACK, "--base", sha, "--head", sha,
                           "--fail-on-change", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"- base: `{sha[:12]}`" in proc.stdout and f"- head: `{sha[:12]}`" in proc.stdout
    assert proc.stdout.rstrip().endswith("No changes.")
    assert out.read_text() == proc.stdout
    worktrees = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "review-diff-" not in worktrees


def test_unreadable_ref_is_a_one_line_error(capsys):
    ref = f"no-such-ref-{secrets.token_hex(4)}"
    assert rd.main([STACK, "--base", ref]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"review_diff: error: cannot read git ref '{ref}'")


def test_make_diff_passes_stack_base_out_and_fail_flag():
    proc = subprocess.run(["make", "-n", "diff", "STACK=prod", "BASE=origin/main", "OUT=build/review.md", "FAIL_ON_CHANGE=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "-m tools.review_diff prod --base origin/main --out build/review.md --fail-on-change" in proc.stdout


def test_a_rotated_secret_shows_as_a_changed_encrypted_value(tmp_path):
    """The offline render cannot decrypt, so a rotated secret renders the same; its
    ciphertext in the stack file changes, and the report says so without showing it."""
    from tools.render import render

    original = sample_stack_file("prod").read_text()
    ciphertexts = {name: "v1:" + secrets.token_urlsafe(24) for name in ("base-slack", "head-slack", "pd")}

    def stack_file(name: str, slack: str, with_pagerduty: bool) -> object:
        lines = [f"  dataops-monitoring:slackWebhookUrl:\n    secure: {ciphertexts[slack]}\n"]
        if with_pagerduty:
            lines.append(f"  dataops-monitoring:pagerdutyRoutingKey:\n    secure: {ciphertexts['pd']}\n")
        path = tmp_path / name
        path.write_text(original.rstrip("\n") + "\n" + "".join(lines))
        return path

    base_path, _ = render("prod", tmp_path / "base", stack_file("Pulumi.base.yaml", "base-slack", False))
    head_path, _ = render("prod", tmp_path / "head", stack_file("Pulumi.head.yaml", "head-slack", True))
    base, head = json.loads(base_path.read_text()), json.loads(head_path.read_text())
    assert base["resources"] == head["resources"], "the masked renders are the same: the digest is all that shows"
    text, changed = _report(base, head)
    assert changed
    secrets_text = _section(text, "Secrets")
    assert "config secret `dataops-monitoring:slackWebhookUrl`: its encrypted value in the stack file changed" in secrets_text
    assert "config secret `dataops-monitoring:pagerdutyRoutingKey`: encrypted value added to the stack file" in secrets_text
    for value in [*ciphertexts.values(), *base["secureValueDigests"].values(), *head["secureValueDigests"].values()]:
        assert value not in text
    # The same stack file twice: no change.
    again, _ = render("prod", tmp_path / "again", stack_file("Pulumi.again.yaml", "base-slack", False))
    assert _report(base, json.loads(again.read_text())) [1] is False
