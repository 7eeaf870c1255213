"""checkov on kube-prometheus-stack rendered with a stack's values:

    python -m tools.checkov_chart prod --chart ./charts/kube-prometheus-stack-88.5.3.tgz

Renders the stack offline, takes the Helm release's values and version from it, runs
``helm template`` (helm must be on PATH; the tests do not assume it) and scans the manifests with
checkov (tools.checkov_scan, scope ``chart`` of policy/checkov-skips.yaml). ``--chart`` is a
chart archive or folder, or a repository chart (``--repo``). Exit 1 on a failure outside the list.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tools.checkov_scan import load_skips, manifests, outside, run_checkov, write_manifests


def chart_release(document: dict) -> dict:
    [release] = [r["inputs"] for r in document["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"]
    return release


def split_manifests(text: str, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for obj in yaml.safe_load_all(text):
        if isinstance(obj, dict) and obj.get("kind"):
            (directory / f"{count:04d}-{obj['kind']}.yaml").write_text(yaml.safe_dump(obj, sort_keys=True), encoding="utf-8")
            count += 1
    return count


def _helm() -> str | None:
    """The helm `e2e.build --group chart` built (a version we chose), else one on PATH."""
    from e2e.build import binary_path

    built = binary_path("helm")
    return str(built) if built.exists() else shutil.which("helm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack")
    parser.add_argument("--chart", default="kube-prometheus-stack")
    parser.add_argument("--repo", default=None, help="chart repository URL (default: the stack's)")
    parser.add_argument("--no-skips", action="store_true")
    args = parser.parse_args(argv)
    helm = _helm()
    if helm is None:
        print("helm is neither built (`python -m e2e.build --group chart`, needs Go) nor on PATH: "
              "the chart cannot be rendered here (see docs/security.md)", file=sys.stderr)
        return 2
    from tools.render import render

    with tempfile.TemporaryDirectory() as tmp:
        path, _ = render(args.stack, Path(tmp) / "render")
        document = json.loads(path.read_text(encoding="utf-8"))
        release = chart_release(document)
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump(release["values"], sort_keys=True), encoding="utf-8")
        command = [helm, "template", release["name"], args.chart, "--namespace", release["namespace"], "--values", str(values), "--version", release["version"]]
        repo = args.repo or (release.get("repositoryOpts") or {}).get("repo")
        if repo and not Path(args.chart).exists():
            command += ["--repo", repo]
        text = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout
        count = split_manifests(text, Path(tmp) / "manifests")
        # The NetworkPolicies our program deploys beside the chart for its pods (Prometheus,
        # Alertmanager, Grafana, the operator, kube-state-metrics): without them every chart pod
        # would read as unprotected (CKV2_K8S_6), which is not what the cluster runs.
        policies = [m for m in manifests(document) if m["kind"] == "NetworkPolicy"]
        write_manifests(policies, Path(tmp) / "manifests" / "ours")
        failures = [f for f in run_checkov(Path(tmp) / "manifests") if not f.resource.startswith("NetworkPolicy.")]
    left = outside(failures, load_skips(), "chart")
    for failure in failures if args.no_skips else left:
        print(failure)
    print(f"{count} chart objects (+{len(policies)} of our NetworkPolicies), {len(failures)} failed checks, {len(left)} outside policy/checkov-skips.yaml (chart)")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
