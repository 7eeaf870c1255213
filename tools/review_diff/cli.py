"""The report, the git worktree renders and the command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Optional


import tools.review_diff as review_diff
from tools.review_diff.text import DiffError, NO_CHANGES, ROOT, code
from tools.review_diff.model import SOURCE_GLOBS, Render, load_render, scrub, secret_values
from tools.review_diff.rules import Section, resources_section, rules_sections
from tools.review_diff.alertmanager import alertmanager_section
from tools.review_diff.sections import dashboards_section, helm_section, other_section, outputs_section, secrets_section, slos_section
from tools.review_diff.stale import stale_numbers_section
from tools.review_diff.targets import targets_section


# --------------------------------------------------------------------------- report


def _strip_volatile(document: dict) -> dict:
    # unusedSecrets is derived from the resources (older renders lack it): not a change by itself.
    return {k: v for k, v in document.items() if k not in ("note", "unusedSecrets")}


def report(base: Render, head: Render, stack: Optional[str] = None) -> tuple[str, bool]:
    """(Markdown, changed?)."""
    stack = stack or head.document.get("stack") or base.document.get("stack") or "?"
    lines = [f"# Review diff: stack `{stack}`", "", f"- base: {base.label}", f"- head: {head.label}", ""]
    if _strip_volatile(base.document) == _strip_volatile(head.document):
        return "\n".join(lines + [NO_CHANGES]) + "\n", False
    sections: list[Optional[Section]] = [resources_section(base, head), targets_section(base, head)]
    sections += rules_sections(base, head)
    sections += [stale_numbers_section(base, head), alertmanager_section(base, head), slos_section(base, head), helm_section(base, head),
                 dashboards_section(base, head), secrets_section(base, head), other_section(base, head),
                 outputs_section(base, head)]
    present = [s for s in sections if s]
    if base.document.get("stack") != head.document.get("stack"):
        lines += [f"Note: comparing stack {code(base.document.get('stack'))} with {code(head.document.get('stack'))}.", ""]
    if not present:  # only metadata differed
        present = [Section("Other changes", ["The documents differ only outside resources and outputs."])]
    lines.append("Sections: " + ", ".join(s.title for s in present) + ".")
    for s in present:
        lines += ["", f"## {s.title}", ""] + s.lines
    text = "\n".join(lines) + "\n"
    return scrub(text, secret_values(base, head)), True


# --------------------------------------------------------------------------- git + render


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def resolve_ref(ref: str) -> str:
    if not ref or ref.startswith("-"):
        raise DiffError(f"cannot read git ref {ref!r}: not a ref")
    proc = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise DiffError(f"cannot read git ref {ref!r}: no such commit in {ROOT} (try: git fetch; git log --oneline {ref})")
    return proc.stdout.strip()


@contextlib.contextmanager
def worktree(sha: str) -> Iterator[Path]:
    """A detached worktree of ``sha`` in a temporary folder, removed however we leave."""
    tmp = Path(tempfile.mkdtemp(prefix="review-diff-"))
    tree = tmp / "tree"
    try:
        proc = _git("worktree", "add", "--detach", "--quiet", str(tree), sha)
        if proc.returncode != 0:
            raise DiffError(f"git worktree add failed for {sha[:12]}: {_last_line(proc.stderr)}")
        yield tree
    finally:
        if _git("worktree", "remove", "--force", str(tree)).returncode != 0 and tree.exists():
            shutil.rmtree(tree, ignore_errors=True)
            _git("worktree", "prune")
        shutil.rmtree(tmp, ignore_errors=True)


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def render_tree(tree: Path, stack: str, label: str) -> Render:
    """Run that tree's own ``tools.render`` for ``stack`` and load what it wrote."""
    files = {str(p.relative_to(tree)): p.read_text(encoding="utf-8") for g in SOURCE_GLOBS for p in sorted(tree.glob(g))}
    if not (tree / f"Pulumi.{stack}.yaml").exists():
        return Render(f"{label} (no Pulumi.{stack}.yaml: empty)", {"stack": stack, "resources": [], "outputs": {}}, files)
    with tempfile.TemporaryDirectory(prefix="review-diff-out-") as out:
        # The tree's own stack files: a test's DATAOPS_STACK_DIR (tools/stack_files.py) must not
        # replace what the reviewer changed.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PULUMI_CONFIG", "DATAOPS_STACK_DIR")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.run([_python(), "-m", "tools.render", stack, "--out", out], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise DiffError(f"render of stack {stack!r} at {label} failed (exit {proc.returncode}): {_last_line(proc.stderr)}",
                            detail=proc.stderr)
        render = load_render(Path(out) / "resources.json", label)
        render.files = files
        return render


def render_ref(ref: str, stack: str, sha: Optional[str] = None) -> Render:
    """``stack`` as committed at ``ref`` (at ``sha`` when the caller resolved it already:
    a branch that moves meanwhile does not change what is compared)."""
    sha = sha or resolve_ref(ref)
    label = f"`{sha[:12]}`" if sha.startswith(ref) else f"`{ref}` ({sha[:12]})"
    with worktree(sha) as tree:
        return render_tree(tree, stack, label)


# --------------------------------------------------------------------------- CLI


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.review_diff", description=review_diff.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", nargs="?", help="stack to render (reads Pulumi.<stack>.yaml at each side)")
    parser.add_argument("--base", help="git ref of the base side (rendered in a temporary worktree)")
    parser.add_argument("--head", help="git ref of the head side (default: the working tree as it is)")
    parser.add_argument("--base-render", type=Path, help="an existing resources.json for the base side")
    parser.add_argument("--head-render", type=Path, help="an existing resources.json for the head side")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--fail-on-change", action="store_true", help="exit 1 when anything differs")
    args = parser.parse_args(argv)

    try:
        if args.base_render or args.head_render:
            if not (args.base_render and args.head_render) or args.base or args.head:
                parser.error("--base-render and --head-render go together, without --base/--head")
            base, head = load_render(args.base_render), load_render(args.head_render)
            stack = args.stack
        else:
            if not args.stack or not args.base:
                parser.error("give STACK and --base REF (or --base-render and --head-render)")
            stack = args.stack
            # Both refs are resolved once, before the first render.
            base_sha = resolve_ref(args.base)
            head_sha = resolve_ref(args.head) if args.head else None
            base = render_ref(args.base, stack, base_sha)
            head = render_ref(args.head, stack, head_sha) if args.head else render_tree(ROOT, stack, "working tree")
        text, changed = report(base, head, stack)
    except DiffError as err:
        print(f"review_diff: error: {err}", file=sys.stderr)
        if err.detail:
            print(err.detail.rstrip(), file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 1 if changed and args.fail_on_change else 0


