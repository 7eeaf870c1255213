"""Offline preview: run the program for one stack under the mock engine, no CLI, no cluster.

    python -m tools.render staging      # writes build/staging/resources.json

Every resource is written with its type, logical name, parent, dependencies and
inputs; secret leaves are replaced by "[secret]" where they occur, so the rest of a
Helm values map or Secret stays readable. Same inputs give byte-identical output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.mock_engine import ROOT, ProgramRun, close_event_loop, masked, run_program, stack_config
from tools.stack_files import stack_dir, stack_file


def _short(urn: str) -> str:
    """``urn:pulumi:stack::project::a$b::name`` -> ``b::name`` (type and name of the resource)."""
    if not urn:
        return ""
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]}::{parts[3]}"


def render_document(run: ProgramRun) -> list[dict]:
    entries = []
    for reg in sorted(run.registrations, key=lambda r: r.urn):
        entries.append(
            {
                "type": reg.type,
                "name": reg.name,
                "parent": _short(reg.parent),
                "dependencies": sorted(_short(u) for u in reg.dependencies),
                "secretInputs": reg.secret_paths(),
                "inputs": reg.masked_inputs(run.secret_values),
            }
        )
    return entries


def unused_secrets(run: ProgramRun, config: dict[str, str], secret_keys: list[str]) -> list[str]:
    def text(value):  # secret markers hold their value
        return getattr(value, "value", str(value))

    blob = json.dumps([r.inputs for r in run.registrations], default=text) + json.dumps(run.stack_outputs, default=text)
    return sorted(k for k in secret_keys if config[k] not in blob)


def render(stack: str, out_dir: Path, stack_file: Path | None = None, as_deployed: bool = False) -> tuple[Path, ProgramRun]:
    """Render ``stack``; every problem of the stack file and of its settings comes in one SettingsError.

    ``as_deployed`` (``--as-deployed``, ``--strict``, ``make render STRICT=1``): no placeholder for
    a secret the stack file lacks, only for the encrypted values it holds (which an offline render
    cannot read): the stack as ``pulumi preview`` sees it, so the render fails where ``pulumi up``
    would (a required secret missing, no cluster named).
    """
    from core.settings import SettingsError

    file_problems: list[str] = []
    digests: dict[str, str] = {}  # of the stack file's secure: values (review_diff shows rotations)
    config, secret_keys = stack_config(
        stack, placeholder_secrets=True, path=stack_file, problems=file_problems, secure_digests=digests,
        fill_missing_secrets=not as_deployed,
    )
    try:
        run = run_program(stack, config, secret_keys, preview=True)
    except SettingsError as err:
        raise SettingsError(file_problems + list(err.problems)) from None
    if file_problems:
        raise SettingsError(file_problems)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "resources.json"
    document = {
        "stack": stack,
        "note": "Offline preview under Pulumi's mock engine. Secrets are masked; missing secrets were given placeholders.",
        "placeholderSecrets": secret_keys,
        "resources": render_document(run),
        "outputs": masked(run.stack_outputs, run.secret_values),
    }
    # Secrets the stack file does not hold and no resource or output reads (layers this stack
    # does not deploy): a review lists only the ones it needs.
    document["unusedSecrets"] = unused_secrets(run, config, secret_keys)
    if digests:  # absent when none: renders of stack files without secure values stay as they were
        document["secureValueDigests"] = digests
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path, run


def summary(document: dict, run: ProgramRun) -> str:
    """What the offline render filled in or could not check: the placeholder secrets, what a
    stack loses without them (receivers that are null), and the program's warnings."""
    from components.alerting.settings import WITHOUT_CREDENTIAL

    prefix = "dataops-monitoring:"
    encrypted = set(document.get("secureValueDigests", {}))
    missing = [k for k in document["placeholderSecrets"] if k not in encrypted]
    lines = []
    if encrypted:
        lines.append(f"Encrypted in the stack file (placeholders here, read by pulumi up): {', '.join(sorted(k.removeprefix(prefix) for k in encrypted))}")
    if missing:
        lines.append(f"Placeholder secrets (NOT in the stack file; set them with pulumi config set --secret): {', '.join(k.removeprefix(prefix) for k in missing)}")
        for key in missing:
            name = key.removeprefix(prefix)
            if name in WITHOUT_CREDENTIAL:
                lines.append(f"  without {name}: {WITHOUT_CREDENTIAL[name]}")
            if name == "kubeconfig" and not document["outputs"].get("kubeContext"):
                lines.append("  without kubeconfig (and no kubeContext): pulumi up has no cluster to deploy to")
        lines.append("make render STACK=<stack> STRICT=1 renders without these placeholders and fails where pulumi up would.")
    lines += [f"warning: {message}" for message in run.warnings]
    return "\n".join(lines)


def table(run: ProgramRun) -> str:
    """Type, name, namespace and parent (the component that owns it: what `pulumi import --parent` needs)."""
    from tools.import_commands import short_parent

    rows = [("TYPE", "NAME", "NAMESPACE", "PARENT")]
    for reg in sorted(run.registrations, key=lambda r: (r.type, r.name)):
        rows.append((reg.type, reg.name, reg.namespace or "-", short_parent(reg.parent)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/<stack>)")
    parser.add_argument("--stack-file", type=Path, default=None, help="read this stack file instead of Pulumi.<stack>.yaml")
    parser.add_argument(
        "--as-deployed", "--strict", dest="as_deployed", action="store_true",
        help="placeholders only for the secrets the stack file holds (as `pulumi preview` sees the stack): fails where pulumi up would",
    )
    args = parser.parse_args(argv)

    if args.stack_file is not None and not args.stack_file.is_file():
        print(f"error: no stack file {args.stack_file}", file=sys.stderr)
        return 2
    # Any stack name: one without a stack file renders from the defaults (the dev profile).
    if args.stack_file is None and not stack_file(args.stack).exists():
        stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stack_dir().glob("Pulumi.*.yaml"))
        print(
            f"note: no Pulumi.{args.stack}.yaml (stacks with a file: {', '.join(stacks) or 'none'}): stack {args.stack!r} renders from the defaults, "
            f"dev profile, environment {args.stack!r}. To start it: pulumi stack init {args.stack}, then pulumi config set dataops-monitoring:kubeContext <context> "
            "(and profile, environment, ...: README, Stacks).",
            file=sys.stderr,
        )
    from settings import SettingsError

    try:
        path, run = render(args.stack, args.out or ROOT / "build" / args.stack, args.stack_file, args.as_deployed)
    except SettingsError as err:
        # run_program closes its event loop when the program fails; a problem of the stack
        # file alone is raised after a complete run, whose loop is closed here.
        close_event_loop()
        print(str(err), file=sys.stderr)
        return 2
    print(table(run))
    print(f"\n{len(run.registrations)} resources -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    notes = summary(json.loads(path.read_text(encoding="utf-8")), run)
    if notes:
        print(notes, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
