"""Reviewer's report: what a change does to a stack's rendered resources, as Markdown.

    python -m tools.review_diff prod --base origin/main            # BASE vs the working tree
    python -m tools.review_diff prod --base origin/main --head HEAD  # two commits
    python -m tools.review_diff --base-render a.json --head-render b.json
    make diff STACK=prod BASE=origin/main

A git ref is rendered in a temporary ``git worktree add --detach`` (removed afterwards)
by that tree's own ``python -m tools.render <stack> --out <dir>``, run with this
project's .venv python; the working tree is rendered in place. The two
``resources.json`` documents are compared and the report lists, each in its own
section and only when something differs: resources added/removed/changed, alerts
(expression, ``for``, severity, labels, annotations; changed numbers in bold),
recording rules, Alertmanager (timings, routes, receivers by name, inhibitions), SLOs
(objective, windows, burn thresholds), Helm values by key path, dashboards (panels,
queries), secrets (changed/unchanged only), other resource fields and stack outputs.

Secret values are never printed: Secret resources are reported as changed/unchanged,
the Alertmanager config (itself in a Secret) is read for names, matchers and timings
only, and every value found under a secret input is scrubbed from the text. The render
masks secret values (and cannot decrypt the stack file's); a rotation shows as a changed
encrypted value in the stack file (a digest of its ciphertext, never printed).

Exit status: 0, or 1 with ``--fail-on-change`` when anything differs; 2 on errors
(unreadable ref, failed render, unreadable file).
"""

from __future__ import annotations

from tools.review_diff.text import CONFIGMAP_TYPE, CONTEXT, DiffError, FlatDiff, MAX_LINES, MAX_VALUE, MIN_SECRET, NO_CHANGES, RELEASE_TYPE, ROOT, RULE_TYPE, SECRET_MASK, SECRET_TYPE, _NUMBER, _SENSITIVE, _TOKEN, _capped, _change_summary, _first_difference, _flat_lines, _join, _key, _one_line, _parse_text, _sensitive, _short, _spans, _table, _tokens, code, flat_diff, flatten, word_diff  # noqa: F401
from tools.review_diff.model import Render, Rid, _at, _comparable, _sensitive_values, _strings, load_render, scrub, secret_values  # noqa: F401
from tools.review_diff.rules import Rule, Section, _rule_rows, _trim, resources_section, rules_of, rules_sections  # noqa: F401
from tools.review_diff.alertmanager import _ROUTE_FIELDS, _TIMING_FIELDS, _inhibition, _integrations, _matchers, _or_inherited, _receiver_changes, _routes, _secret_texts, alertmanager_configs, alertmanager_section  # noqa: F401
from tools.review_diff.sections import _OBJECTIVE, _RATIO, _RATIO_RECORD, _panels, _query, dashboards_of, dashboards_section, helm_section, other_section, outputs_section, secrets_section, slos_of, slos_section  # noqa: F401
from tools.review_diff.cli import _git, _last_line, _python, _strip_volatile, main, render_ref, render_tree, report, resolve_ref, worktree  # noqa: F401
