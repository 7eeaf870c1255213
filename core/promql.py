"""A cheap PromQL syntax check, run at settings time (SLO expressions a stack file gives).

`promtool check rules` is the real parser, but settings are read by every `pulumi
preview` (Jenkins, an operator's laptop) where promtool is not installed, and starting it
per expression would cost a process and a temp file per preview. This check catches the
usual mistakes early with the position of the problem: unbalanced brackets or quotes,
unknown functions, operators with a missing operand, a range without a duration, label
matchers that are not matchers. The tests run promtool over the generated rule files (and
check that promtool rejects every expression this check rejects).
"""

from __future__ import annotations

import re
from typing import Optional

PROMQL_FUNCTIONS = frozenset(
    """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv
    double_exponential_smoothing exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
    histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase info irate label_join
    label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label
    sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp
    vector year start end""".split()
)
PROMQL_AGGREGATIONS = frozenset("sum avg min max count stddev stdvar topk bottomk quantile count_values group limitk limit_ratio".split())
_PROMQL_KEYWORDS = frozenset("by without on ignoring group_left group_right offset bool and or unless atan2".split())
_PROMQL_SET_OPS = frozenset("and or unless atan2".split())
_PROMQL_TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)
    |(?P<placeholder>\$\{(?:window|step)\})
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
    |(?P<duration>(?:[0-9]+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_]))
    |(?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?![A-Za-z_])|(?i:inf|nan)(?![A-Za-z0-9_]))
    |(?P<ident>:?[A-Za-z_][A-Za-z0-9_:]*)
    |(?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=,:@])
    |(?P<open>[(\[{])
    |(?P<close>[)\]}])""",
    re.VERBOSE,
)
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def promql_problem(expr: str) -> Optional[str]:
    """None when ``expr`` looks like PromQL, else a short reason with the position."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(expr):
        match = _PROMQL_TOKEN.match(expr, pos)
        if not match:
            if expr[pos] in "\"'`":
                return f"unterminated string at character {pos + 1}"
            return f"unexpected character {expr[pos]!r} at character {pos + 1}"
        kind = match.lastgroup
        if kind != "space":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    if not tokens:
        return "empty expression"
    stack: list[tuple[str, int, bool]] = []  # bracket, position, is a modifier's label list (by/on/...)
    operand_kinds = ("ident", "number", "string", "duration", "placeholder")
    prev: Optional[tuple[str, str, int]] = None
    for index, (kind, value, at) in enumerate(tokens):
        where = f"at character {at + 1}"
        nxt = tokens[index + 1] if index + 1 < len(tokens) else None
        inside = stack[-1][0] if stack else ""
        if kind == "open":
            if value == "(" and prev and prev[0] == "ident" and prev[1] not in PROMQL_FUNCTIONS | PROMQL_AGGREGATIONS | _PROMQL_KEYWORDS:
                return f"unknown function {prev[1]!r} at character {prev[2] + 1}"
            if value == "[" and not (nxt and nxt[0] in ("duration", "placeholder", "number")):
                return f"a range [...] needs a duration like [5m] or [${{window}}] {where}"
            modifier = value == "(" and prev is not None and prev[1] in _PROMQL_KEYWORDS - _PROMQL_SET_OPS - {"offset", "bool"}
            stack.append((value, at, modifier))
        elif kind == "close":
            if not stack or _PAIRS[stack[-1][0]] != value:
                return f"unbalanced {value!r} {where}"
            if prev and prev[0] == "op" and prev[1] not in (",",) and not (value == "]" and prev[1] == ":"):
                return f"operator {prev[1]!r} has no right-hand operand {where}"
            _, _, modifier = stack.pop()
            if modifier:
                prev = ("ident", "by", at)  # what follows a modifier's label list is an operand
                continue
        elif kind == "op":
            binary = value not in ("+", "-") and not (value == ":" and inside == "[")
            if binary and value != "," and (prev is None or prev[0] == "op" or prev[1] in "([{"):
                return f"operator {value!r} has no left-hand operand {where}"
            if value in ("=", "=~", "!~") and inside != "{":
                return f"{value!r} outside a label matcher {{...}} {where} (use == to compare)"
        elif kind in operand_kinds and prev is not None and prev[0] in operand_kinds + ("close",):
            # Two operands in a row: only keywords (by, offset, and, ...) may follow an operand.
            if not (kind == "ident" and value in _PROMQL_KEYWORDS) and not (prev[0] == "ident" and prev[1] in _PROMQL_KEYWORDS | PROMQL_AGGREGATIONS):
                if not (kind in ("duration", "number", "placeholder") and prev[0] == "ident" and prev[1] == "offset"):
                    return f"missing operator before {value!r} {where}"
        prev = (kind, value, at)
    if stack:
        return f"unclosed {stack[-1][0]!r} at character {stack[-1][1] + 1}"
    if tokens[-1][0] == "op":
        return f"expression ends with the operator {tokens[-1][1]!r}"
    return None
