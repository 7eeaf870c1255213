"""/proc figures of a process and its children (the exporter forks a serving process).
Used by the exporter tests and benchmarks."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from every thread's children list)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return sorted(set(found))


def status(pid: int, field: str) -> int:
    """A numeric field of /proc/<pid>/status (kB for memory fields), or -1."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def tree_total(pid: int, field: str) -> int:
    """``field`` summed over the process tree. For VmHWM this is an upper bound of the
    tree's peak: the peaks need not coincide, and pages shared after fork count twice."""
    return sum(max(0, status(p, field)) for p in tree(pid))


def describe_rss(pid: int, field: str = "VmHWM") -> str:
    """e.g. '212 MiB (exporter 180 + serving 32)'."""
    values = [max(0, status(p, field)) / 1024 for p in tree(pid)]
    parts = " + ".join(f"{v:.0f}" for v in values)
    return f"{sum(values):.0f} MiB ({parts}: exporter process first, then the serving process)"
