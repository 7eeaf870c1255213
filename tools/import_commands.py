"""`pulumi import` commands that adopt a stack's existing Kubernetes objects under the URNs the program registers.

    python -m tools.import_commands prod        # make import-commands STACK=prod

An object imported without ``--parent`` gets a URN the program never registers (its parent is
a component: ``...::dataops:monitoring:StorageMonitoring$kubernetes:...::minio``), so the next
``pulumi up`` would create a second one and delete the import; without ``--provider`` it is
bound to the default provider instead of the stack's explicit one, and ``up`` replaces it.
Each command here names both, computed from the program run under the mock engine:
``--parent <name>=<urn>`` and ``--provider kubernetes=<urn>``, with the object's id
(``<namespace>/<name>``, or ``<name>`` for cluster-scoped kinds) and ``--generate-code=false``
(the program already declares it). Run only the lines of objects that exist (`kubectl get`).

The parents and the provider must be in the stack's state before anything is imported under
them (the state refers to them by URN), so the script starts with a targeted `pulumi up` that
creates only the explicit provider and the component resources (no Kubernetes object: a
component has no cloud side, the provider only reads its kubeconfig). Not yet run against a
real backend here: try it on a scratch stack first.

URNs: the engine leaves the root stack's type out of a child's URN (pulumi/pulumi
pkg/resource/deploy/deployment.go, generateURN); the mock engine keeps it, so it is dropped here.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from typing import Optional

from tools.mock_engine import ROOT, ProgramRun, Registration, run_program, stack_config

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                  "PersistentVolume", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}


def real_urn(urn: str) -> str:
    """The URN the engine gives: no ``pulumi:pulumi:Stack$`` in the type chain of the stack's children."""
    return urn.replace("::pulumi:pulumi:Stack$", "::")


def short_parent(urn: str) -> str:
    """``urn:...::dataops:monitoring:StorageMonitoring::storage`` -> ``StorageMonitoring::storage``; the stack -> ``-``."""
    if not urn or urn.split("::")[2].endswith("pulumi:pulumi:Stack"):
        return "-"
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1].rsplit(':', 1)[-1]}::{parts[3]}"


def _variable(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    return (words[0].lower() + "".join(w.capitalize() for w in words[1:])) or "parent"


@dataclass(frozen=True)
class ImportCommand:
    type: str
    name: str
    id: Optional[str]  # None: the provider auto-names it, no fixed name to import
    parent: Optional[str]  # "<name>=<urn>", None for the stack's own children
    provider: Optional[str]

    def shell(self, stack: str) -> str:
        if self.id is None:
            return f"# {self.type} {self.name}: auto-named (no metadata.name); nothing to import by name"
        args = ["pulumi", "import", "--stack", stack, self.type, self.name, self.id]
        if self.parent:
            args += ["--parent", self.parent]
        if self.provider:
            args += ["--provider", self.provider]
        args.append("--generate-code=false")
        return " ".join(shlex.quote(a) for a in args)


def object_id(reg: Registration) -> Optional[str]:
    if reg.type == "kubernetes:helm.sh/v3:Release":
        return f"{reg.inputs.get('namespace') or 'default'}/{reg.inputs.get('name') or reg.name}"
    metadata = reg.inputs.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str):
        return None
    kind = reg.type.rsplit(":", 1)[-1]
    return name if kind in CLUSTER_SCOPED else f"{metadata.get('namespace') or 'default'}/{name}"


def commands(run: ProgramRun) -> list[ImportCommand]:
    by_urn = {r.urn: r for r in run.registrations}
    out = []
    for reg in sorted(run.registrations, key=lambda r: (real_urn(r.parent), r.type, r.name)):
        if not reg.custom or not reg.type.startswith("kubernetes:"):
            continue  # components are not imported; providers cannot be
        parent = None
        if reg.parent and not reg.parent.split("::")[2].endswith("pulumi:pulumi:Stack"):
            owner = by_urn.get(reg.parent)
            parent = f"{_variable(owner.name if owner else 'parent')}={real_urn(reg.parent)}"
        provider = None
        if reg.provider:
            provider_urn = reg.provider.rsplit("::", 1)[0]
            provider = f"{provider_urn.rsplit('::', 1)[-1]}={real_urn(provider_urn)}"
        out.append(ImportCommand(reg.type, reg.name, object_id(reg), parent, provider))
    return out


def prerequisites(run: ProgramRun) -> list[str]:
    """URNs to create before any import: the explicit providers and every component that parents a custom resource."""
    urns = set()
    for cmd in commands(run):
        if cmd.provider:
            urns.add(cmd.provider.split("=", 1)[1])
    components = {r.urn for r in run.registrations if not r.custom}
    urns |= {real_urn(r.parent) for r in run.registrations if r.custom and r.parent in components}
    # Components parented by other components come along with their own parents.
    return sorted(urns)


def script(stack: str, run: ProgramRun) -> str:
    lines = [
        f"# pulumi import commands for stack {stack}: generated by `make import-commands STACK={stack}` from the program.",
        "# Run only the lines of objects that already exist in the cluster, before the first `pulumi up`.",
        "",
        "# 1. The explicit provider and the components the imports attach to (no Kubernetes object is created):",
        " ".join(["pulumi", "up", "--stack", shlex.quote(stack)] + [f"--target {shlex.quote(u)}" for u in prerequisites(run)]),
        "",
        "# 2. One import per existing object:",
    ]
    current = None
    for cmd in commands(run):
        group = cmd.parent.split("=", 1)[1] if cmd.parent else "(the stack)"
        if group != current:
            lines += ["", f"# parent: {short_parent(group) if cmd.parent else 'the stack'}"]
            current = group
        lines.append(cmd.shell(stack))
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    args = parser.parse_args(argv)
    from settings import ENVIRONMENTS, SettingsError

    if not (ROOT / f"Pulumi.{args.stack}.yaml").exists() and args.stack not in ENVIRONMENTS:
        print(f"error: no Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    try:
        config, secret_keys = stack_config(args.stack, placeholder_secrets=True)
        run = run_program(args.stack, config, secret_keys)
    except SettingsError as err:
        print(str(err), file=sys.stderr)
        return 2
    sys.stdout.write(script(args.stack, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
