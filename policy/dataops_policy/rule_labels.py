"""The label Prometheus selects PrometheusRules by, read from the program's own code.

The program defines ``RULE_SELECTOR_LABELS`` once (today ``components/common.py``; it may
move). The policy must not keep a second copy that could drift, so it finds the one
top-level assignment in the program's Python files and evaluates it: a literal is read
without importing anything; anything else imports the defining module and reads the
attribute. Re-exports (``from x import RULE_SELECTOR_LABELS``) are not definitions.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Mapping

NAME = "RULE_SELECTOR_LABELS"
PROGRAM_ROOT = Path(__file__).resolve().parents[2]
# Not the program: tooling, tests, generated output, this pack, the exporter image's code.
_SKIP_DIRS = {"tests", "build", "policy", "exporters", "benchmarks", "node_modules", "__pycache__"}


class RuleLabelsNotFound(RuntimeError):
    pass


def _program_files(root: Path):
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIP_DIRS]
        found.extend(Path(directory) / f for f in files if f.endswith(".py"))
    return sorted(found)


def _definitions(root: Path) -> list[tuple[Path, ast.expr]]:
    found = []
    for path in _program_files(root):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) and node.value else []
            if any(isinstance(t, ast.Name) and t.id == NAME for t in targets):
                found.append((path, node.value))
    return found


def _evaluate(root: Path, path: Path, expression: ast.expr) -> Mapping[str, str]:
    try:
        return ast.literal_eval(expression)
    except ValueError:
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return getattr(importlib.import_module(module), NAME)


@functools.lru_cache(maxsize=None)
def rule_selector_labels(root: Path = PROGRAM_ROOT) -> dict[str, str]:
    definitions = _definitions(root)
    if not definitions:
        raise RuleLabelsNotFound(f"no top-level {NAME} = ... in the program under {root}")
    values = {path.relative_to(root).as_posix(): dict(_evaluate(root, path, expr)) for path, expr in definitions}
    distinct = {tuple(sorted(v.items())) for v in values.values()}
    if len(distinct) != 1:
        raise RuleLabelsNotFound(f"{NAME} is defined differently in {sorted(values)}: {values}")
    labels = next(iter(values.values()))
    if not labels or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise RuleLabelsNotFound(f"{NAME} must be a non-empty mapping of strings, got {labels!r}")
    return labels


def defined_in(root: Path = PROGRAM_ROOT) -> list[str]:
    return [path.relative_to(root).as_posix() for path, _ in _definitions(root)]
