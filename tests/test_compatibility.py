"""docs/compatibility.md stays in step with the pins it lists.

Every row of the pins table names the file (or setting) that holds its number; the number must
equal what that file holds today. The chart table was read for one chart version: it must be
the version the chart setting defaults to, so a chart bump makes this fail until the table is
re-read from the new chart.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

DOC = ROOT / "docs" / "compatibility.md"


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip()] = version.strip()
    return pins


def tool_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split()
            pins[name] = version
    return pins


def setting_defaults() -> dict[str, str]:
    from settings import SETTINGS_SCHEMA

    return {s.key: s.default for s in SETTINGS_SCHEMA if isinstance(s.default, str)}


def table_between(text: str, start: str, end: str) -> list[list[str]]:
    block = text.split(start, 1)[1].split(end, 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("|")][2:]  # header, rule
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def pinned_value(source: str, root: Path) -> tuple[str, str]:
    """('setting `thanosImage`' or '`requirements.txt`: `pulumi`') -> (what, the version it holds)."""
    setting = re.fullmatch(r"setting `(\w+)`", source)
    if setting:
        value = setting_defaults()[setting.group(1)]
        return setting.group(1), value.rsplit(":", 1)[1] if "/" in value else value
    file_pin = re.fullmatch(r"`([\w./-]+)`: `([\w.-]+)`", source)
    if not file_pin:
        raise ValueError(f"unknown pin source {source!r}")
    path, name = root / file_pin.group(1), file_pin.group(2)
    pins = tool_pins(path) if path.name == "tool-versions.txt" else requirement_pins(path)
    return f"{file_pin.group(1)} {name}", pins[name]


def compatibility_problems(text: str, root: Path = ROOT) -> list[str]:
    problems = []
    listed = set()
    for component, version, source in table_between(text, "<!-- pins:start -->", "<!-- pins:end -->"):
        what, pinned = pinned_value(source, root)
        listed.add(what)
        if version != pinned:
            problems.append(f"{component}: the page says {version}, {what} holds {pinned}")
    for name in tool_pins(root / "tools" / "tool-versions.txt"):
        if f"tools/tool-versions.txt {name}" not in listed:
            problems.append(f"tools/tool-versions.txt pins {name}, the page does not list it")
    for name in requirement_pins(root / "requirements.txt"):
        if name.startswith(("pulumi", "grafana")) and f"requirements.txt {name}" not in listed:
            problems.append(f"requirements.txt pins {name}, the page does not list it")
    chart = setting_defaults()["kubePrometheusStackVersion"]
    read_for = re.search(r"<!-- chart:start version=(\S+) -->", text)
    if not read_for or read_for.group(1) != chart:
        problems.append(f"the chart table was read for {read_for and read_for.group(1)}, the setting deploys {chart}")
    if f"## What kube-prometheus-stack {chart} brings" not in text:
        problems.append(f"the chart section heading does not name {chart}")
    return problems


def test_compatibility_page_matches_every_pin():
    assert compatibility_problems(DOC.read_text()) == []


def test_a_stale_number_on_the_page_is_reported():
    text = DOC.read_text()
    stale = text.replace("| Pulumi Python SDK | 3.272.0 |", "| Pulumi Python SDK | 3.100.0 |")
    assert stale != text
    assert any("Pulumi Python SDK: the page says 3.100.0" in p for p in compatibility_problems(stale))


def test_a_chart_bump_without_rereading_the_chart_is_reported(tmp_path):
    text = DOC.read_text().replace("<!-- chart:start version=88.5.3 -->", "<!-- chart:start version=88.4.0 -->")
    assert any("read for 88.4.0" in p for p in compatibility_problems(text))


def test_a_new_tool_pin_missing_from_the_page_is_reported(tmp_path):
    root = tmp_path
    (root / "tools").mkdir()
    (root / "tools" / "tool-versions.txt").write_text(
        (ROOT / "tools" / "tool-versions.txt").read_text() + "prometheus-pushgateway 1.11.0-1\n")
    for name in ("requirements.txt",):
        (root / name).write_text((ROOT / name).read_text())
    assert any("prometheus-pushgateway" in p for p in compatibility_problems(DOC.read_text(), root))


def test_the_chart_table_names_every_component_a_team_asks_about():
    rows = table_between(DOC.read_text(), "<!-- chart:start", "<!-- chart:end -->")
    names = " ".join(r[0] for r in rows)
    for component in ("Prometheus Operator", "Prometheus", "Alertmanager", "Grafana", "kube-state-metrics", "node-exporter"):
        assert component in names
    assert all(re.fullmatch(r"v?\d+\.\d+\.\d+|kube-webhook-certgen \d+\.\d+\.\d+", r[1]) for r in rows), rows
