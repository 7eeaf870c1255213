"""Cut a release: `make release VERSION=x.y.z` (docs/releasing.md).

Checks that the working tree is clean, that x.y.z is a new, higher version than every v* tag,
and that CHANGELOG.md's Unreleased section has entries and an "Upgrade notes" subsection;
then moves the Unreleased entries under "## [x.y.z] - <date>", commits CHANGELOG.md as
"Release x.y.z" and creates the annotated tag vx.y.z. Nothing is pushed: `git push origin
main vx.y.z` is the releaser's step. Exit 2 with every problem listed when a check fails.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from pathlib import Path

UNRELEASED = "## [Unreleased]"
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def version_key(version: str) -> tuple[int, int, int]:
    return tuple(int(p) for p in version.split("."))  # type: ignore[return-value]


def released_versions(repo: Path) -> list[str]:
    tags = git(repo, "tag", "--list", "v*").split()
    return sorted((t[1:] for t in tags if SEMVER.fullmatch(t[1:])), key=version_key)


def unreleased_section(changelog: str) -> str:
    if UNRELEASED not in changelog:
        return ""
    rest = changelog.split(UNRELEASED, 1)[1]
    following = re.search(r"^## \[", rest, flags=re.M)
    return rest[: following.start()] if following else rest


def problems(repo: Path, version: str, changelog: str) -> list[str]:
    found = []
    if not SEMVER.fullmatch(version):
        found.append(f"VERSION={version!r} is not MAJOR.MINOR.PATCH (e.g. 0.2.0). Fix: make release VERSION=0.2.0")
    else:
        released = released_versions(repo)
        if version in released:
            found.append(f"v{version} is already tagged")
        elif released and version_key(version) <= version_key(released[-1]):
            found.append(f"{version} is not higher than the last release {released[-1]}")
    dirty = git(repo, "status", "--porcelain").strip()
    if dirty:
        found.append("the working tree is not clean (commit or stash first):\n    " + dirty.replace("\n", "\n    "))
    section = unreleased_section(changelog)
    if not section.strip():
        found.append("CHANGELOG.md has no entries under '## [Unreleased]'")
    elif "### Upgrade notes" not in section:
        found.append("CHANGELOG.md's Unreleased section has no '### Upgrade notes' (what `pulumi up` replaces or restarts)")
    return found


def release_changelog(changelog: str, version: str, date: str) -> str:
    section = unreleased_section(changelog)
    head, rest = changelog.split(UNRELEASED, 1)
    return f"{head}{UNRELEASED}\n\n## [{version}] - {date}\n{section.lstrip(chr(10)).rstrip()}\n\n{rest[len(section):]}".rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="release date (default today)")
    args = parser.parse_args(argv)
    path = args.repo / "CHANGELOG.md"
    changelog = path.read_text()
    found = problems(args.repo, args.version, changelog)
    if found:
        print(f"Cannot release {args.version} ({len(found)} problem{'s' if len(found) > 1 else ''}):", file=sys.stderr)
        for p in found:
            print(f"  - {p}", file=sys.stderr)
        return 2
    path.write_text(release_changelog(changelog, args.version, args.date))
    git(args.repo, "add", "CHANGELOG.md")
    git(args.repo, "commit", "-q", "-m", f"Release {args.version}")
    git(args.repo, "tag", "-a", f"v{args.version}", "-m", f"dataops-monitoring {args.version}")
    print(f"Tagged v{args.version} on {git(args.repo, 'rev-parse', '--short', 'HEAD').strip()}. "
          f"Publish: git push origin HEAD v{args.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
