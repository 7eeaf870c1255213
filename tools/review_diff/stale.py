"""Numbers still showing the old value: an alert's threshold changed in its expression while
its annotations, its runbook or its promtool test still say the old number.

The head side's sources (rule files, runbooks, promtool tests) come with the render
(``Render.files``, read from the tree that was rendered); every copy of an old number is
listed with file and line, for the reviewer to judge (a "5 minutes" next to a changed
threshold of 5 may be right).
"""

from __future__ import annotations

import re
from typing import Iterator, Optional

from tools.review_diff.model import Render
from tools.review_diff.rules import Section, rules_of
from tools.review_diff.text import _NUMBER, _table, code, word_diff

RULE_FILES = re.compile(r"^rules/[^/]+\.rules\.ya?ml$")
TEST_FILES = re.compile(r"^rules/tests/[^/]+\.ya?ml$")


def number_pattern(number: str) -> re.Pattern:
    """The number as a whole token: not part of 15, 0.5, p95 or 5m (unless it is 5m itself).

    A ratio below 1 is also looked for as a percentage (0.1 -> 10 % or 10%).
    """
    forms = [re.escape(number)]
    try:
        value = float(number)
    except ValueError:
        value = None
    if value is not None and 0 < value < 1:
        forms.append(re.escape(f"{value * 100:g}") + r" ?%")
    return re.compile(rf"(?<![0-9A-Za-z_.])(?:{'|'.join(forms)})(?![0-9A-Za-z_]|\.\d)")


def changed_numbers(old_expr: str, new_expr: str) -> list[str]:
    """Old numeric tokens of the expression that the change replaced and the new one no longer has."""
    _, _, changes = word_diff(old_expr, new_expr)
    new_tokens = set(re.findall(r"[0-9][0-9A-Za-z_.]*", new_expr))
    found = []
    for old, _new in changes:
        for token in re.findall(r"[0-9][0-9A-Za-z_.]*", old):
            if _NUMBER.match(token) and token not in new_tokens and token not in found:
                found.append(token)
    return found


def _alert_blocks(text: str, alert: str) -> Iterator[tuple[int, int]]:
    """(first, last) line numbers (1-based, inclusive) of each ``- alert: <alert>`` rule in a rule file."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)- alert:\s*['\"]?(\S+?)['\"]?\s*$", line)
        if not m or m.group(2) != alert:
            continue
        indent = len(m.group(1))
        end = i
        for j in range(i + 1, len(lines)):
            stripped = lines[j].strip()
            if stripped and (len(lines[j]) - len(lines[j].lstrip())) <= indent and not stripped.startswith("#"):
                break
            end = j
        yield i + 1, end + 1


def _annotation_lines(text: str, first: int, last: int) -> Iterator[int]:
    lines = text.splitlines()
    inside, indent = False, 0
    for n in range(first, last + 1):
        line = lines[n - 1]
        key = re.match(r"^(\s*)annotations:\s*$", line)
        if key:
            inside, indent = True, len(key.group(1))
            continue
        if inside:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                inside = False
            else:
                yield n


def _test_blocks(text: str, alert: str) -> Iterator[tuple[int, int]]:
    """Line ranges of the promtool test groups (``- interval:`` items of ``tests:``) that test ``alert``,
    each with the comment lines right above it."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^  - ", line)]
    for k, start in enumerate(starts):
        end = (starts[k + 1] if k + 1 < len(starts) else len(lines)) - 1
        body = "\n".join(lines[start:end + 1])
        if not re.search(rf"alertname:\s*['\"]?{re.escape(alert)}['\"]?\s*$", body, flags=re.M):
            continue
        first = start
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
        while end > start and (not lines[end].strip() or lines[end].strip().startswith("#")):
            end -= 1  # the next group's leading comment belongs to it
        yield first + 1, end + 1


def stale_copies(files: dict[str, str], alert: str, number: str) -> list[tuple[str, int, str, str]]:
    """(file, line, what, text) of every copy of ``number`` where ``alert`` is explained or tested."""
    pattern = number_pattern(number)
    found = []
    for path in sorted(files):
        text = files[path]
        lines = text.splitlines()
        if RULE_FILES.match(path):
            for first, last in _alert_blocks(text, alert):
                found += [(path, n, "annotation", lines[n - 1].strip()) for n in _annotation_lines(text, first, last)
                          if pattern.search(lines[n - 1])]
        elif TEST_FILES.match(path):
            for first, last in _test_blocks(text, alert):
                found += [(path, n, "promtool test", lines[n - 1].strip()) for n in range(first, last + 1)
                          if pattern.search(lines[n - 1])]
        elif path == f"docs/runbooks/{alert}.md":
            found += [(path, n, "runbook", line.strip()) for n, line in enumerate(lines, 1) if pattern.search(line)]
    return found


def stale_numbers_section(base: Render, head: Render) -> Optional[Section]:
    if not head.files:
        return None
    a, _ = rules_of(base)
    b, _ = rules_of(head)
    rows = []
    for key in sorted(set(a) & set(b)):
        old, new = a[key], b[key]
        if old.kind != "alert" or old.body.get("expr") == new.body.get("expr"):
            continue
        for number in changed_numbers(str(old.body.get("expr", "")), str(new.body.get("expr", ""))):
            for path, line, what, text in stale_copies(head.files, new.name, number):
                rows.append((code(new.name), f"**{code(number)}**", what, f"`{path}:{line}`", code(text, 100)))
    if not rows:
        return None
    rows = list(dict.fromkeys(rows))  # an alert in several groups lists each copy once
    lines = ["The expression no longer has these numbers, but its explanations and tests still do:", ""]
    return Section("Numbers still showing the old value", lines + _table(("alert", "old", "in", "where", "line"), rows))
