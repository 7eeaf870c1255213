"""The STAND-IN kube-prometheus-stack chart of the e2e (e2e/chart) with the operator's real CRDs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from e2e.build import module_file
from e2e.paths import REPO_ROOT

OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator@v0.93.1"
CRD_DIR = "example/prometheus-operator-crd"


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.1's '=' "value" tag has no constructor in PyYAML; the CRDs use '=' as a string."""


_CrdLoader.yaml_implicit_resolvers = {
    first: [resolver for resolver in resolvers if resolver[0] != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _without_descriptions(node: object) -> object:
    if isinstance(node, dict):
        return {key: _without_descriptions(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [_without_descriptions(item) for item in node]
    return node


def make_chart(dest: Path) -> Path:
    """The STAND-IN chart (e2e/chart) with the operator's real CRDs from its v0.93.1 module.

    Their schemas are kept whole; their description texts are left out, because Helm stores
    the chart in the release Secret and Kubernetes caps a Secret at 1 MiB (with descriptions:
    "Secret sh.helm.release.v1... is invalid: data: Too long")."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "e2e" / "chart", dest)
    crds = dest / "crds"
    crds.mkdir()
    source = module_file(OPERATOR_MODULE, CRD_DIR)
    for crd in sorted(source.glob("*.yaml")):
        document = _without_descriptions(yaml.load(crd.read_text(), Loader=_CrdLoader))
        (crds / crd.name).write_text(json.dumps(document, sort_keys=True) + "\n")  # JSON is YAML
    return dest
