"""Assemble a Helm chart and its dependencies from local git mirrors of their repositories.

    python -m tools.chart_from_git kube-prometheus-stack 88.5.3 --out build/chart \\
        --git https://prometheus-community.github.io/helm-charts=<git dir> \\
        --git https://grafana-community.github.io/helm-charts=<git dir>

For machines that reach no chart repository but have the charts' source repositories as git
mirrors (the `fetch` tool, outside the clone): finds the commit whose ``charts/<name>/Chart.yaml``
has the wanted version, exports that folder, and puts each dependency, at the version
``Chart.yaml`` asks for (``x.y.*`` allowed), under ``charts/`` the way ``helm dependency build``
would. Nothing is copied into this repository; ``--out`` is a build folder. Prints the chart
folder for ``make checkov-chart CHART=...``.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True).stdout


def find_commit(git_dir: Path, name: str, version: str) -> tuple[str, str]:
    """(commit, exact version): the newest commit where charts/<name>/Chart.yaml has a version
    matching ``version`` (a ``*`` wildcard as in a dependency's range)."""
    path = f"charts/{name}/Chart.yaml"
    for commit in _git(git_dir, "log", "--format=%H", "--", path).decode().split():
        try:
            chart = yaml.safe_load(_git(git_dir, "show", f"{commit}:{path}"))
        except subprocess.CalledProcessError:
            continue
        found = str(chart.get("version", ""))
        if fnmatch.fnmatch(found, version):
            return commit, found
    raise SystemExit(f"chart_from_git: no commit of {git_dir} has {path} at version {version}")


def export(git_dir: Path, commit: str, name: str, dest: Path) -> None:
    archive = _git(git_dir, "archive", "--format=tar", commit, f"charts/{name}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest.parent / ".export", filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(dest.parent / ".export" / "charts" / name, dest)
    shutil.rmtree(dest.parent / ".export")


def assemble(name: str, version: str, out: Path, mirrors: dict[str, Path], home: str) -> Path:
    commit, exact = find_commit(mirrors[home], name, version)
    chart_dir = out / name
    export(mirrors[home], commit, name, chart_dir)
    print(f"chart_from_git: {name} {exact} from {commit[:12]}")
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    for dependency in chart.get("dependencies") or []:
        repository = dependency.get("repository")
        if not repository:  # a subchart kept inside the chart (e.g. crds)
            continue
        if repository not in mirrors:
            raise SystemExit(f"chart_from_git: no --git mirror for {repository} ({dependency['name']})")
        assemble(dependency["name"], str(dependency["version"]), chart_dir / "charts", mirrors, repository)
    (chart_dir / "Chart.lock").unlink(missing_ok=True)  # its digests name the packaged archives, not folders
    return chart_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chart")
    parser.add_argument("version")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--git", action="append", default=[], metavar="REPOSITORY_URL=GIT_DIR", required=True,
                        help="the chart's own repository first, then one per dependency repository")
    args = parser.parse_args(argv)
    mirrors = {}
    for item in args.git:
        url, _, git_dir = item.partition("=")
        mirrors[url] = Path(git_dir)
    home = args.git[0].partition("=")[0]
    print(assemble(args.chart, args.version, args.out, mirrors, home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
