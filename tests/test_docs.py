"""The documentation says what the repository holds: the mechanical kinds of stale statement.

- a repository path in backticks or a relative Markdown link that does not exist;
- a path of someone's machine (/work/..., /home/...);
- a version of a pinned tool that disagrees with its pin (or a floor like "0.28+" instead of
  the version we run);
- a `kubectl -l` selector in a runbook that picks the workload by a label other than the one
  its monitor selects (`app=hive-metastore` where the PodMonitor selects
  `app.kubernetes.io/name: hive-metastore`);
- a runbook that hard-codes a namespace or Slack channel a setting holds (runbooks write
  `<setting:key>`, see docs/runbook-template.md), or names a setting that does not exist;
- a comment or document that cites an issue number (readers of the repository have no tracker).

Each check is a function of (file name, text) so the tests below can plant a stale statement.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

import pytest

from tests.conftest import ROOT

DOCS = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "exporters" / "iceberg" / "README.md"]
    + list((ROOT / "docs").rglob("*.md"))
)
RUNBOOKS = sorted((ROOT / "docs" / "runbooks").glob("*.md"))
TOP_LEVEL = ("components/", "docs/", "tools/", "rules/", "tests/", "dashboards/", "policy/", "exporters/",
             "core/", "benchmarks/", "e2e/", ".ci/")
TOP_FILES = ("Jenkinsfile", "Makefile", "settings.py", "__main__.py", "Pulumi.yaml", "Pulumi.prod.yaml",
             "Pulumi.staging.yaml", "requirements.txt", "requirements-dev.txt", "LICENSE", "CHANGELOG.md")
# Worked examples name files still to be created: DEVELOPING.md's `redis` layer, dashboards.md's
# dashboard 07.
EXAMPLE_PATHS = re.compile(r"redis|d07_streaming")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- paths


def missing_paths(name: str, text: str, root: Path = ROOT) -> list[str]:
    problems = []
    base = (root / name).parent
    for line_no, line in enumerate(text.splitlines(), 1):
        # Backticked repository paths, and every relative Markdown link target.
        candidates = [(t, False) for t in re.findall(r"`([^`\s]+)`", line)]
        candidates += [(t, True) for t in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", line)]
        for token, is_link in candidates:
            if re.match(r"[a-z]+:", token) or any(c in token for c in "<>*{}$") or EXAMPLE_PATHS.search(token):
                continue
            path = token.split("::")[0].split(":")[0].rstrip(".,;")
            if not (is_link or path.startswith(TOP_LEVEL) or path in TOP_FILES):
                continue
            if not ((root / path).exists() or (base / path).exists()):
                problems.append(f"{name}:{line_no}: {token} does not exist")
    return problems


LOCAL_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|Users|root)/[\w.+-]")


def local_machine_paths(name: str, text: str) -> list[str]:
    return [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if LOCAL_PATH.search(line)]


# --------------------------------------------------------------------------- versions


def _tool_pin(package: str) -> str:
    for line in (ROOT / "tools" / "tool-versions.txt").read_text().splitlines():
        if line.split() and line.split()[0] == package:
            return re.match(r"[\d.]+\d", line.split()[1]).group(0)
    raise KeyError(package)


def _setting(key: str) -> str:
    from settings import SETTINGS_SCHEMA

    return next(str(s.default) for s in SETTINGS_SCHEMA if s.key == key)


def _requirement(name: str) -> str:
    return re.search(rf"^{re.escape(name)}==(\S+)", (ROOT / "requirements.txt").read_text(), flags=re.M).group(1)


def _chart_row(component: str) -> str:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    return re.search(rf"^\| {re.escape(component)} \| v?([\d.]+) \|", text, flags=re.M).group(1)


def allowed_versions() -> dict[str, set[str]]:
    """The versions a document may name for each tool: what the tests run and what the chart deploys."""
    prometheus = {_tool_pin("prometheus"), _tool_pin("promtool"), _chart_row("Prometheus")}
    alertmanager = {_tool_pin("prometheus-alertmanager"), _chart_row("Alertmanager")}
    e2e_cli = re.search(r"pulumi/pkg/v3 v([\d.]+)", (ROOT / "e2e" / "gomod" / "pulumi" / "go.mod").read_text()).group(1)
    return {
        "Prometheus": prometheus, "promtool": prometheus,
        "Alertmanager": alertmanager, "amtool": alertmanager,
        "Thanos": {_setting("thanosImage").rsplit(":v", 1)[1]},
        "kube-prometheus-stack": {_setting("kubePrometheusStackVersion")},
        "Pulumi CLI": {_requirement("pulumi"), e2e_cli}, "Pulumi SDK": {_requirement("pulumi")},
        "blackbox_exporter": {_setting("blackboxExporterImage").rsplit(":v", 1)[1], _tool_pin("prometheus-blackbox-exporter")},
        "statsd_exporter": {_setting("statsdExporterImage").rsplit(":v", 1)[1]},
        "node_exporter": {_tool_pin("prometheus-node-exporter"), _chart_row("node-exporter")},
    }


VERSION_MENTION = re.compile(
    r"\b(Prometheus|promtool|Alertmanager|amtool|Thanos|kube-prometheus-stack|Pulumi CLI|Pulumi SDK|"
    r"blackbox_exporter|statsd_exporter|node_exporter) v?(\d+(?:\.\d+)*)(\+?)(?![\w.-]*\d)"
)


def version_disagreements(name: str, text: str, allowed: dict[str, set[str]]) -> list[str]:
    problems = []
    for line_no, line in enumerate(text.splitlines(), 1):
        for tool, version, floor in VERSION_MENTION.findall(line):
            parts = version.split(".")
            matches = [v for v in allowed[tool] if v.split(".")[: len(parts)] == parts]
            if floor or not matches:
                problems.append(f"{name}:{line_no}: '{tool} {version}{floor}' - we pin {', '.join(sorted(allowed[tool]))}")
    return problems


# --------------------------------------------------------------------------- runbooks


def selector_labels(run_documents: Iterable[dict[str, Any]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(labels the monitors select, every label our rendered objects carry or select)."""
    selected, known = set(), set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("labels", "matchLabels"):
                if isinstance(node.get(key), dict):
                    known.update((k, str(v)) for k, v in node[key].items())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for doc in run_documents:
        walk(doc)
        if doc.get("kind") in ("ServiceMonitor", "PodMonitor"):
            selected.update((k, str(v)) for k, v in (doc.get("spec", {}).get("selector", {}).get("matchLabels") or {}).items())
    return selected, known


def selector_disagreements(name: str, text: str, selected: set[tuple[str, str]], known: set[tuple[str, str]]) -> list[str]:
    problems = []
    for line_no, line in enumerate(text.splitlines(), 1):
        for selector in re.findall(r"(?:-l|--selector)[ =](\S+)", line):
            for term in selector.strip("'\"").split(","):
                if "=" not in term or "<" in term:
                    continue
                key, value = term.split("=", 1)
                monitors = sorted(k for k, v in selected if v == value and k != key)
                if monitors and (key, value) not in known:
                    problems.append(f"{name}:{line_no}: -l {key}={value}, but the monitor selects {monitors[0]}={value}")
    return problems


def setting_keys() -> set[str]:
    from settings import SETTINGS_SCHEMA

    return {s.key for s in SETTINGS_SCHEMA}


def hard_coded_settings(name: str, text: str) -> list[str]:
    """Namespaces and channels whose values settings hold, written as values; unknown <setting:...>."""
    from settings import SETTINGS_SCHEMA

    values = {}
    for s in SETTINGS_SCHEMA:
        if s.key.endswith(("Namespace", "Namespaces")) or s.key in ("namespace", "alertSlackChannelHigh", "alertSlackChannelMedium"):
            for value in (s.default if isinstance(s.default, tuple) else (s.default,)):
                if value:
                    values[str(value)] = s.key
    keys = setting_keys()
    problems = []
    for line_no, line in enumerate(text.splitlines(), 1):
        for ns in re.findall(r"(?:-n|--namespace)[ =]([\w-]+)", line) + re.findall(r"\b([\w-]+)\.svc\b", line):
            if ns in values:
                problems.append(f"{name}:{line_no}: namespace '{ns}' hard-coded: write <setting:{values[ns]}>")
        for channel in re.findall(r"#[a-z][\w-]+", line):
            if channel in values:
                problems.append(f"{name}:{line_no}: channel '{channel}' hard-coded: write <setting:{values[channel]}>")
        for key in re.findall(r"<setting:([A-Za-z]\w*)>", line):
            if key not in keys:
                problems.append(f"{name}:{line_no}: <setting:{key}> names no setting")
    return problems


ISSUE_CITATION = re.compile(r"\b[Ii]ssues? #?\d+(?:\.\d+)?\b")


def issue_citations(name: str, text: str) -> list[str]:
    return [f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if ISSUE_CITATION.search(line)]


# --------------------------------------------------------------------------- the repository


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """Every Kubernetes object prod renders, plus staging with every optional layer on."""
    from tests.test_layers import LAYER_SETTINGS, _run
    from tools.mock_engine import run_program, stack_config

    from tests.conftest import with_secrets

    config, keys = stack_config("prod", placeholder_secrets=False, overrides=with_secrets())
    runs = [run_program("prod", config, keys), _run("staging", {k: v for vs in LAYER_SETTINGS.values() for k, v in vs.items()})]
    return [json.loads(json.dumps(r.inputs, default=str)) | {"kind": r.type.rsplit(":", 1)[-1]}
            for run in runs for r in run.registrations if r.type.startswith("kubernetes:")]


def test_every_path_the_docs_name_exists():
    problems = [p for doc in DOCS for p in missing_paths(rel(doc), doc.read_text())]
    assert problems == [], "\n".join(problems)


def test_a_planted_stale_path_is_caught():
    readme = (ROOT / "README.md").read_text()
    planted = readme + "\nSee `components/assets/spark-application-example.yaml` and [the guide](docs/gone.md).\n"
    found = missing_paths("README.md", planted)
    assert [p.split(": ", 1)[1] for p in found] == [
        "components/assets/spark-application-example.yaml does not exist", "docs/gone.md does not exist"]


def test_no_local_machine_paths():
    texts = DOCS + [ROOT / f for f in ("Makefile", "Jenkinsfile", "Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml")]
    problems = [p for path in texts for p in local_machine_paths(rel(path), path.read_text())]
    assert problems == [], "\n".join(problems)
    assert local_machine_paths("x.md", "review_diff: error: no such commit in /work/main") != []


def test_versions_in_the_docs_agree_with_the_pins():
    allowed = allowed_versions()
    problems = [p for doc in DOCS if doc.name != "CHANGELOG.md" for p in version_disagreements(rel(doc), doc.read_text(), allowed)]
    assert problems == [], "\n".join(problems)


def test_a_floor_or_a_wrong_version_is_caught():
    allowed = allowed_versions()
    text = "Prometheus 3 / promtool, Alertmanager 0.28+ / amtool\nPulumi CLI 3.100.0\nPrometheus 3.14"
    found = version_disagreements("README.md", text, allowed)
    assert len(found) == 2 and "Alertmanager 0.28+" in found[0] and "Pulumi CLI 3.100.0" in found[1]


def test_runbook_selectors_agree_with_the_monitors(rendered):
    selected, known = selector_labels(rendered)
    assert ("app.kubernetes.io/name", "hive-metastore") in selected, "the Hive PodMonitor is in the render"
    problems = [p for rb in RUNBOOKS for p in selector_disagreements(rel(rb), rb.read_text(), selected, known)]
    assert problems == [], "\n".join(problems)
    stale = "kubectl -n <setting:hiveMetastoreNamespace> get pods -l app=hive-metastore -o wide"
    assert selector_disagreements("HiveMetastoreDown.md", stale, selected, known) == [
        "HiveMetastoreDown.md:1: -l app=hive-metastore, but the monitor selects app.kubernetes.io/name=hive-metastore"]


def test_runbooks_write_namespaces_and_channels_as_their_settings():
    problems = [p for rb in RUNBOOKS for p in hard_coded_settings(rel(rb), rb.read_text())]
    assert problems == [], "\n".join(problems)
    found = hard_coded_settings("x.md", "kubectl -n monitoring get pods\nSlack #dataops-ops\n<setting:nope>")
    assert len(found) == 3


def test_no_issue_numbers_in_docs_and_comments():
    own = DOCS + sorted(ROOT.glob("tests/*.py")) + sorted(ROOT.glob("tools/**/*.py")) + sorted(ROOT.glob("dashboards/**/*.py"))
    own += [ROOT / "Makefile", ROOT / "Jenkinsfile"]
    problems = [p for path in own if path.name not in ("CHANGELOG.md", "test_docs.py")
                for p in issue_citations(rel(path), path.read_text())]
    assert problems == [], "\n".join(problems)
    assert issue_citations("x.py", "# Issue 12 layers, off unless set") != []


# --------------------------------------------------------------------------- runbook template

SECTIONS = ["의미", "먼저 확인할 것", "조치", "에스컬레이션"]


def alert_labels() -> dict[str, tuple[list[str], list[str]]]:
    """Alert name -> (severities, components) as the rule files give them."""
    import yaml

    found: dict[str, tuple[list[str], list[str]]] = {}
    for path in sorted((ROOT / "rules").glob("*.rules.yaml")):
        for group in yaml.safe_load(path.read_text()).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    sev, comp = found.setdefault(rule["alert"], ([], []))
                    labels = rule.get("labels") or {}
                    if labels.get("severity") not in sev:
                        sev.append(labels.get("severity"))
                    if labels.get("component") and labels["component"] not in comp:
                        comp.append(labels["component"])
    return found


def template_problems(name: str, text: str, labels: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    alert = Path(name).stem
    problems = []
    title = text.splitlines()[0]
    severities = sorted(labels[alert][0], key=["critical", "high", "medium"].index)
    if not title.startswith(f"# {alert} (severity: {' / '.join(severities)}, "):
        problems.append(f"{name}: title {title!r} does not give the rule files' severity {' / '.join(severities)}")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    present = [h for h in headings if h in SECTIONS]
    if present != SECTIONS:
        problems.append(f"{name}: sections {headings}, the template needs {SECTIONS} in this order")
    elif headings[-1] != "에스컬레이션":
        problems.append(f"{name}: 에스컬레이션 must be the last section")
    escalation = text.split("## 에스컬레이션", 1)[-1]
    for severity in severities:
        if f"심각도 {severity}" not in escalation:
            problems.append(f"{name}: the escalation says nothing for severity {severity}")
    return problems


ENGLISH_SENTENCE = re.compile(r"\b[a-z]+(?:,? [a-z]+){4,}\b")


def prose_is_korean(text: str) -> bool:
    """Korean prose outside code: no run of five English words (commands, metric names, labels
    and settings stay as they are, so single English terms are fine)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = re.sub(r'`[^`]*`|<[^>]*>|\([^)]*\.md[^)]*\)|"[^"]*"', "", prose)
    lines = [line for line in prose.splitlines() if line.strip() and not line.startswith(("# ", "> 표기"))]
    return bool(re.search(r"[\uac00-\ud7a3]", " ".join(lines))) and not any(ENGLISH_SENTENCE.search(line) for line in lines)


# Runbooks whose prose is still English (translation in progress): a translated one must leave
# this list, and no runbook may fall back to English.
ENGLISH_RUNBOOKS_LEFT: set[str] = set()


def test_every_alert_runbook_follows_the_template():
    labels = alert_labels()
    assert set(labels) <= {rb.stem for rb in RUNBOOKS}, "every alert has a runbook (tests/test_alerting.py too)"
    problems = [p for rb in RUNBOOKS if rb.stem in labels for p in template_problems(rel(rb), rb.read_text(), labels)]
    assert problems == [], "\n".join(problems)
    broken = (ROOT / "docs/runbooks/TrinoSlowQueries.md").read_text().replace("## 에스컬레이션", "## Escalation")
    assert template_problems("TrinoSlowQueries.md", broken, labels) != []


def test_runbooks_are_in_korean_like_the_alert_text():
    english = {rb.stem for rb in RUNBOOKS if not prose_is_korean(rb.read_text())}
    assert english == ENGLISH_RUNBOOKS_LEFT, (
        f"translated, remove from ENGLISH_RUNBOOKS_LEFT: {sorted(ENGLISH_RUNBOOKS_LEFT - english)}; "
        f"English again: {sorted(english - ENGLISH_RUNBOOKS_LEFT)}")
    assert not prose_is_korean("## What it means\nNo Thanos Query replica has been scraped for 5 minutes.\n")


OPERATIONS_PAGES = ("silencing", "grafana", "sizing", "non-goals", "dashboards", "app-team-rules", "chart-default-rules",
                    "runbook-template", "compatibility", "releasing")


@pytest.mark.parametrize("page", OPERATIONS_PAGES)
def test_operations_pages_exist_and_the_readme_links_them(page):
    assert (ROOT / "docs" / f"{page}.md").is_file()
    assert f"](docs/{page}.md)" in (ROOT / "README.md").read_text(), f"README does not link docs/{page}.md"
