"""checkov's Kubernetes checks on the objects a stack renders: the scanner a security
reviewer runs, with the checks we deliberately do not follow listed once in
``policy/checkov-skips.yaml`` (each with its reason).

    python -m tools.checkov_scan prod              # render, scan, list failures outside the skip list
    python -m tools.checkov_scan prod --no-skips   # every failure (the "before" figure of a change)
    python -m tools.checkov_scan --resources build/prod/resources.json   # a render made elsewhere (another commit)
    python -m tools.checkov_scan --manifests DIR   # scan manifests rendered elsewhere (the chart: make checkov-chart)

checkov runs from its own venv (``make checkov-venv``: requirements-checkov.txt), not from .venv.
Exit status 1 when a failure is not in the skip list.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
SKIPS_FILE = ROOT / "policy" / "checkov-skips.yaml"
CHECKOV = Path(os.environ.get("CHECKOV") or ROOT / ".venv-checkov" / "bin" / "checkov")  # CHECKOV=path: another install
# Pulumi types that are not Kubernetes objects in the cluster (the Helm release is scanned as the
# chart's manifests, by make checkov-chart).
NOT_MANIFESTS = ("kubernetes:helm.sh/", "pulumi:providers:")


@dataclass(frozen=True)
class Failure:
    check_id: str
    check_name: str
    resource: str  # Kind.namespace.name, as checkov names it

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource}: {self.check_name}"


@dataclass(frozen=True)
class Skip:
    check_id: str
    reason: str
    scope: str  # "ours", "chart" or "all": whose objects the skip applies to
    resources: tuple[str, ...] = ()  # empty: every resource of that scope

    def covers(self, failure: Failure, scope: str) -> bool:
        if self.check_id != failure.check_id or self.scope not in (scope, "all"):
            return False
        return not self.resources or failure.resource in self.resources


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    """The skip list; an entry without a reason or with an unknown scope is an error."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["skips"]
    skips, problems = [], []
    for entry in entries:
        check_id, reason, scope = entry.get("id"), (entry.get("reason") or "").strip(), entry.get("scope", "all")
        if not check_id or not reason:
            problems.append(f"{entry!r}: every skip needs an id and a reason")
        if scope not in ("ours", "chart", "all"):
            problems.append(f"{check_id}: scope must be ours, chart or all, not {scope!r}")
        skips.append(Skip(check_id, reason, scope, tuple(entry.get("resources") or ())))
    if problems:
        raise ValueError("; ".join(problems))
    return skips


def manifests(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a render (build/<stack>/resources.json), as manifests."""
    objects = []
    for resource in document["resources"]:
        kind = resource["type"]
        if not kind.startswith("kubernetes:") or kind.startswith(NOT_MANIFESTS):
            continue
        inputs = resource["inputs"]
        if "apiVersion" in inputs and "kind" in inputs:
            objects.append(inputs)
    return objects


def write_manifests(objects: Iterable[dict[str, Any]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for index, obj in enumerate(objects):
        name = f"{index:03d}-{obj['kind']}-{obj.get('metadata', {}).get('name', 'unnamed')}.yaml"
        (directory / name).write_text(yaml.safe_dump(obj, sort_keys=True), encoding="utf-8")


def run_checkov(directory: Path, checkov: Path = CHECKOV) -> list[Failure]:
    """Every failed check of checkov's kubernetes framework on the manifests in ``directory``."""
    if not Path(checkov).exists():
        raise FileNotFoundError(f"{checkov} not found: run `make checkov-venv` (requirements-checkov.txt)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [str(checkov), "--directory", str(directory), "--framework", "kubernetes", "--output", "json", "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov exited {result.returncode}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failures = set()
    for part in reports:
        for check in part.get("results", {}).get("failed_checks", []):
            failures.add(Failure(check["check_id"], check["check_name"], check["resource"]))
    return sorted(failures, key=lambda f: (f.check_id, f.resource))


def outside(failures: Iterable[Failure], skips: list[Skip], scope: str) -> list[Failure]:
    return [f for f in failures if not any(s.covers(f, scope) for s in skips)]


def render_manifests(stack: str, directory: Path, stack_file: Optional[Path] = None) -> Path:
    from tools.render import render

    path, _ = render(stack, directory / "render", stack_file)
    target = directory / "manifests"
    write_manifests(manifests(json.loads(path.read_text(encoding="utf-8"))), target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", nargs="?", help="render this stack and scan our own objects")
    parser.add_argument("--resources", type=Path, help="scan the objects of this render (resources.json) instead of rendering")
    parser.add_argument("--manifests", type=Path, help="scan these manifests instead (the chart's: scope chart)")
    parser.add_argument("--no-skips", action="store_true", help="list every failure, skipped or not")
    args = parser.parse_args(argv)
    if sum(x is not None for x in (args.stack, args.resources, args.manifests)) != 1:
        parser.error("give one of: a stack, --resources, --manifests")
    with tempfile.TemporaryDirectory() as tmp:
        if args.resources is not None:
            write_manifests(manifests(json.loads(args.resources.read_text(encoding="utf-8"))), Path(tmp) / "manifests")
        directory = args.manifests or (Path(tmp) / "manifests" if args.resources else render_manifests(args.stack, Path(tmp)))
        failures = run_checkov(directory)
    scope = "chart" if args.manifests else "ours"
    shown = failures if args.no_skips else outside(failures, load_skips(), scope)
    for failure in shown:
        print(failure)
    print(f"{len(failures)} failed checks, {len(outside(failures, load_skips(), scope))} outside policy/checkov-skips.yaml ({scope})")
    return 1 if outside(failures, load_skips(), scope) else 0


if __name__ == "__main__":
    sys.exit(main())
