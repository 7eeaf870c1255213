"""No Python module outside tests/ is over 400 lines: a module that grows past it is split by concern.

The check counts lines as `wc -l` does, comments and docstrings included (no trimming
to fit). Scope: every *.py of the repository except tests/, virtual environments (.venv*), the tool cache (.tools),
build output (build/) and git's own directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import ROOT

MAX_LINES = 400
SKIPPED_TOP = {"tests", ".tools", "build", ".git"}


def python_modules(root: Path) -> list[Path]:
    """Every *.py under ``root`` in scope, sorted; skipped directories are not walked into."""
    found = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        if here == root:
            dirs[:] = [d for d in dirs if d not in SKIPPED_TOP and not d.startswith(".venv")]
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found.extend(here / f for f in files if f.endswith(".py"))
    return sorted(found)


def line_count(path: Path) -> int:
    """Newlines, as `wc -l` counts them."""
    return path.read_bytes().count(b"\n")


def oversized(paths: list[Path], root: Path) -> list[str]:
    return [f"{p.relative_to(root)}: {n} lines" for p in paths if (n := line_count(p)) > MAX_LINES]


def test_no_module_over_400_lines():
    modules = python_modules(ROOT)
    # The walk must reach the code it guards (an empty scope would pass vacuously).
    names = {p.relative_to(ROOT).as_posix() for p in modules}
    assert {"__main__.py", "exporters/iceberg/collector.py", "benchmarks/bench_iceberg.py"} <= names
    assert not any(n.startswith(("tests/", ".venv")) for n in names)
    assert oversized(modules, ROOT) == [], "split these by concern"


def test_a_planted_long_module_is_caught(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "pkg" / "at_limit.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_long.py").write_text("x = 1\n" * (MAX_LINES + 50))
    (tmp_path / ".venv-x").mkdir()
    (tmp_path / ".venv-x" / "site.py").write_text("x = 1\n" * (MAX_LINES + 50))
    modules = python_modules(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in modules] == ["pkg/at_limit.py", "pkg/long.py"]
    assert oversized(modules, tmp_path) == [f"pkg{os.sep}long.py: {MAX_LINES + 1} lines"]
