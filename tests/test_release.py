"""CHANGELOG.md, LICENSE and `make release` (tools/release.py), run in a throw-away git repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools import release

CHANGELOG = ROOT / "CHANGELOG.md"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "release-test@example.invalid")
    git(tmp_path, "config", "user.name", "release test")
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG.read_text())
    git(tmp_path, "add", "CHANGELOG.md")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


def test_changelog_follows_keep_a_changelog_with_upgrade_notes():
    text = CHANGELOG.read_text()
    assert text.startswith("# Changelog\n")
    assert "## [Unreleased]" in text and "keepachangelog.com" in text
    section = release.unreleased_section(text)
    for heading in ("### Added", "### Changed", "### Fixed", "### Upgrade notes"):
        assert heading in section
    # Every released version heading is "## [x.y.z] - YYYY-MM-DD" and has upgrade notes.
    for match in re.finditer(r"^## \[(?!Unreleased)([^\]]+)\](.*)$", text, flags=re.M):
        assert release.SEMVER.fullmatch(match.group(1)) and re.fullmatch(r" - \d{4}-\d{2}-\d{2}", match.group(2))


def test_license_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def test_release_moves_unreleased_entries_commits_and_tags(repo, capsys):
    assert release.main(["0.1.0", "--repo", str(repo), "--date", "2026-12-08"]) == 0
    text = (repo / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.1.0] - 2026-12-08\n" in text
    assert release.unreleased_section(text).strip() == ""
    assert "### Upgrade notes" in text.split("## [0.1.0]", 1)[1]
    assert git(repo, "tag", "--list").split() == ["v0.1.0"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "Release 0.1.0"
    assert git(repo, "rev-parse", "v0.1.0^{commit}") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""


def test_release_refuses_with_every_problem_listed(repo, capsys):
    git(repo, "tag", "-a", "v0.2.0", "-m", "earlier")
    (repo / "CHANGELOG.md").write_text(CHANGELOG.read_text().replace("### Upgrade notes", "### Notes"))
    assert release.main(["0.1.5", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "not higher than the last release 0.2.0" in err
    assert "not clean" in err
    assert "no '### Upgrade notes'" in err
    assert git(repo, "tag", "--list").split() == ["v0.2.0"], "nothing tagged on refusal"


def test_release_refuses_a_malformed_or_repeated_version(repo, capsys):
    assert release.main(["1.0", "--repo", str(repo)]) == 2
    assert "not MAJOR.MINOR.PATCH" in capsys.readouterr().err
    assert release.main(["0.1.0", "--repo", str(repo), "--date", "2026-12-08"]) == 0
    assert release.main(["0.1.0", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "already tagged" in err and "no entries under" in err


def test_make_release_without_version_says_how():
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "-o", "venv", "-o", ".venv/.installed", "release"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "usage: make release VERSION=x.y.z" in proc.stdout
