"""SLOs as code: Prometheus rule groups generated from ``settings.slos``.

The SRE workbook's multiwindow, multi-burn-rate alerts (chapter "Alerting on SLOs",
approach 6), for each SLO with budget ``B = 1 - objective``. The window pairs and burn
factors come from the SLO's window (``components.slo.burn``); for a 30-day SLO they are the
workbook's table:

* recording rules ``dataops:slo:error_ratio:rate<W>{slo="<name>"}`` for every window its
  pairs read, plus ``SUMMARY_WINDOWS`` (the dashboard's summary table compares SLOs on
  those); for 30d: 5m, 30m, 1h, 2h, 6h, 1d, 3d (the SLO's ``error_ratio_expr(W)``);
* page  (severity=critical): 1h AND 5m  > 14.4 B  (2 % of a 30d budget in 1 h),
                        or:  6h AND 30m > 6 B    (5 % in 6 h);
* ticket (severity=high):    1d AND 2h  > 3 B    (10 % in 1 d);
* ticket (severity=medium):  3d AND 6h  > 1 B    (10 % in 3 d);
  (a 7d SLO: 14m/5m, 1h24m/7m, 5h36m/28m, 16h48m/1h24m with the same shares; a 90d SLO:
  3h/15m, 18h/1h30m and one ticket 3d/6h: burn.py says why);
* ``dataops:slo:error_budget_remaining{slo}`` over the SLO window (1 = untouched,
  0 = spent, negative = overspent) and ``SLOErrorBudgetExhausted`` under 10 % for 15 min,
  severity **high** (a ticket, not a page): the budget is a window-long sum that moves slowly,
  the fast burns that need a human now already page through ``SLOErrorBudgetBurn``, and
  the answer to a spent budget is the error-budget policy (freeze risky changes), not a
  3 a.m. wake-up. The guide's ``critical`` is deliberately not used
  (docs/runbooks/SLOErrorBudgetExhausted.md).
* ``dataops:sli:platform_availability``: the platform-availability SLI. Per platform
  layer, the share of the services' own health probes that succeed
  (``probe_success{job="service-health"}``) where the stack probes that layer, else the
  layer's exporter-up share (``dataops:platform:availability:by_layer``); averaged over layers.

Windows longer than Prometheus' retention: with Thanos, ``split_long_windows`` moves the
budget rules of such SLOs into a group the Thanos Ruler evaluates against Thanos Query
(long-term, deduplicated data; Query reads the downsampled blocks for it, components/thanos/query.py);
the burn-rate windows (at most 3d) stay in Prometheus.

The long window says "enough budget is burning", the short one "and it is still
burning", so a page clears minutes after recovery instead of an hour later. The
guide's ``burn_rate_1h > 14.4 and burn_rate_6h > 6`` pairs two long windows and is
deliberately not used.

All burn alerts share the name ``SLOErrorBudgetBurn`` and differ in ``severity``, so
Alertmanager's inhibit rule (critical silences high/medium of the same alertname,
cluster and slo) keeps a page from also producing tickets.

Output is deterministic: same SLOs -> same groups (``render_slo_rules_yaml``).
"""

from __future__ import annotations

from typing import Any, Sequence

import yaml

from components.slo.burn import BurnPolicy, number, policies
from components.slo.settings import SloSpec
from core.parsers import parse_duration

# The dashboard's SLO summary table shows the burn rate over these windows for every SLO
# (dashboards.thresholds.Inputs.summary_windows): recorded for each SLO whatever its window.
SUMMARY_WINDOWS = ("1h", "6h", "1d", "3d")
ALERT_BURN = "SLOErrorBudgetBurn"
ALERT_EXHAUSTED = "SLOErrorBudgetExhausted"
BUDGET_EXHAUSTED_BELOW = 0.1
# SLO alerts link to the end-to-end dashboard with the SLO selected (core.rules.Links adds the URLs).
DASHBOARD = "dataops-06-e2e"
BUDGET_GROUP = "dataops_slo_error_budget"
BUDGET_INTERVAL = "5m"
BUDGET_SEVERITY = "high"
SLI_RECORD = "dataops:sli:platform_availability"
SERVICE_PROBE_JOB = "service-health"  # components/portal: the services' health probes
SLI_EXPR = f"""avg(
    avg by (layer) (probe_success{{job="{SERVICE_PROBE_JOB}"}})
  or
    dataops:platform:availability:by_layer
)
"""


def record_name(window: str) -> str:
    return f"dataops:slo:error_ratio:rate{window}"


def threshold(slo: SloSpec, factor: float) -> float:
    return number(factor * (1 - slo.objective))


def windows(slo: SloSpec) -> tuple[str, ...]:
    """The error-ratio windows recorded for ``slo``: its pairs' windows and SUMMARY_WINDOWS, shortest first."""
    return tuple(sorted(set(policies(slo.window).windows) | set(SUMMARY_WINDOWS), key=parse_duration))


def group_name(slo: SloSpec) -> str:
    return "dataops_slo_" + slo.name.replace("-", "_")


def _pair(slo: SloSpec, policy: BurnPolicy) -> str:
    t = threshold(slo, policy.factor)
    sel = f'{{slo="{slo.name}"}}'
    return (
        f"{record_name(policy.long_window)}{sel} > {t}\n"
        f"and\n"
        f"{record_name(policy.short_window)}{sel} > {t}"
    )


def _annotations(slo: SloSpec, summary: str, description: str, alert: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "dashboard": f"{DASHBOARD}?var-slo={slo.name}",
    }


def _labels(slo: SloSpec, severity: str) -> dict[str, str]:
    return {"severity": severity, "component": "slo", "slo": slo.name}


def _page_text(slo: SloSpec, page: Sequence[BurnPolicy]) -> str:
    """`1h와 5m 오류율이 모두 14.4배 소진 속도(1시간에 예산의 2%)를 넘었거나, 6h와 30m이 모두 6배(...)를 넘었습니다`."""
    parts = []
    for i, p in enumerate(page):
        speed = f"{p.factor:g}배 소진 속도" if i == 0 else f"{p.factor:g}배"
        parts.append(f"{p.long_window}와 {p.short_window}{' 오류율이' if i == 0 else '이'} 모두 {speed}({p.budget_share})를 넘었")
    return "거나, ".join(parts) + "습니다"


def slo_group(slo: SloSpec, interval: str) -> dict[str, Any]:
    burn = policies(slo.window)
    page, tickets = burn.page, burn.tickets
    rules: list[dict[str, Any]] = [
        {"record": "dataops:slo:objective", "expr": f"vector({number(slo.objective)})", "labels": {"slo": slo.name}}
    ]
    for window in windows(slo):
        rules.append({"record": record_name(window), "expr": slo.error_ratio_expr(window), "labels": {"slo": slo.name}})
    page_expr = "\n".join(f"(\n{_indent(_pair(slo, p))}\n)" if i == 0 else f"or\n(\n{_indent(_pair(slo, p))}\n)" for i, p in enumerate(page))
    budget = number(1 - slo.objective)
    rules.append(
        {
            "alert": ALERT_BURN,
            "expr": page_expr + "\n",
            # Not paging, it shares its severity with the first ticket: `burn` keeps the two alerts apart.
            "labels": _labels(slo, page[0].severity) if slo.page else {**_labels(slo, tickets[0].severity), "burn": "fast"},
            "annotations": _annotations(
                slo,
                f"SLO {slo.name} 에러 버짓 급속 소진 (오류율 {{{{ $value | humanizePercentage }}}}, 페이지 기준 "
                + " / ".join(f"{threshold(slo, p.factor):g}" for p in page)
                + ")",
                f"{slo.description} 목표 {slo.objective:g} (에러 버짓 {budget:g}, 기간 {slo.window}). "
                f"{_page_text(slo, page)}. 지금도 소진 중입니다.",
                ALERT_BURN,
            ),
        }
    )
    for policy in tickets:
        rules.append(
            {
                "alert": ALERT_BURN,
                "expr": _pair(slo, policy) + "\n",
                "labels": _labels(slo, policy.severity),
                "annotations": _annotations(
                    slo,
                    f"SLO {slo.name} 에러 버짓 소진 경고 ({policy.long_window} 오류율 {{{{ $value | humanizePercentage }}}}, "
                    f"기준 {threshold(slo, policy.factor):g})",
                    f"{slo.description} (기간 {slo.window}) {policy.long_window}와 {policy.short_window} 오류율이 모두 "
                    f"{policy.factor:g}배 소진 속도({policy.budget_share})를 넘었습니다. 근무 시간 안에 원인을 찾으세요.",
                    ALERT_BURN,
                ),
            }
        )
    return {"name": group_name(slo), "interval": interval, "rules": rules}


def budget_group(slos: Sequence[SloSpec]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for slo in slos:
        budget = number(1 - slo.objective)
        rules.append(
            {
                "record": "dataops:slo:error_budget_remaining",
                "expr": f"1 - (\n{_indent(slo.budget_error_ratio_expr())}\n) / {budget}\n",
                "labels": {"slo": slo.name},
            }
        )
    for slo in slos:
        rules.append(
            {
                "alert": ALERT_EXHAUSTED,
                "expr": f'dataops:slo:error_budget_remaining{{slo="{slo.name}"}} < {BUDGET_EXHAUSTED_BELOW}',
                "for": "15m",
                "labels": _labels(slo, BUDGET_SEVERITY),
                "annotations": _annotations(
                    slo,
                    f"SLO {slo.name} 에러 버짓 소진 임박 ({{{{ $value | humanizePercentage }}}} 남음, 기간 {slo.window})",
                    f"{slo.description} {slo.window} 동안의 에러 버짓이 {BUDGET_EXHAUSTED_BELOW:.0%} 미만 남았습니다. "
                    "위험한 변경(배포, 스키마 변경)을 멈추고 신뢰성 작업을 우선하세요.",
                    ALERT_EXHAUSTED,
                ),
            }
        )
    return {"name": BUDGET_GROUP, "interval": BUDGET_INTERVAL, "rules": rules}


def slo_rule_groups(slos: Sequence[SloSpec], interval: str = "30s") -> list[dict[str, Any]]:
    """Rule groups for these SLOs: one per SLO (recordings + burn alerts) and one for the budgets.

    The SLI record goes first into the group of the first SLO that reads it: rules of one
    group see each other's results of the same tick, so the SLI adds no evaluation delay.
    """
    if not slos:
        return []
    groups = [slo_group(slo, interval) for slo in slos]
    for slo, group in zip(slos, groups):
        if SLI_RECORD in slo.error_ratio_expr("5m"):
            group["rules"].insert(0, {"record": SLI_RECORD, "expr": SLI_EXPR})
            break
    return groups + [budget_group(slos)]


def split_long_windows(
    groups: Sequence[dict[str, Any]], slos: Sequence[SloSpec], retention: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(groups for Prometheus, groups for the Thanos Ruler).

    The budget rules (recording and alert) of every SLO whose window is longer than
    ``retention`` go to the Ruler, in a group of the same name; everything else - the SLIs,
    the burn-rate windows (at most 3d) - stays in Prometheus.
    """
    retention_s = parse_duration(retention)
    long = {slo.name for slo in slos if parse_duration(slo.window) > retention_s}
    local: list[dict[str, Any]] = []
    ruler: list[dict[str, Any]] = []
    for group in groups:
        if group["name"] != BUDGET_GROUP:
            local.append(group)
            continue
        mine = [r for r in group["rules"] if r["labels"]["slo"] not in long]
        theirs = [r for r in group["rules"] if r["labels"]["slo"] in long]
        if mine:
            local.append({**group, "rules": mine})
        if theirs:
            ruler.append({**group, "rules": theirs})
    return local, ruler


def render_slo_rules_yaml(slos: Sequence[SloSpec], interval: str = "30s") -> str:
    header = (
        "# GENERATED by `python -m tools.slo_rules` from settings.slos (components/slo/rules.py).\n"
        "# Do not edit: change the SLOs in settings or the generator, then regenerate.\n"
    )
    body = yaml.dump({"groups": slo_rule_groups(slos, interval)}, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=1000)
    return header + body


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (PromQL) as literal blocks, for readable diffs."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def burn_thresholds(slo: SloSpec) -> list[dict[str, Any]]:
    """Per pair: severity, windows, burn factor, error-ratio threshold, and fastest detection at 100 % errors."""
    burn = policies(slo.window)
    rows = []
    for policy in burn.all:
        t = threshold(slo, policy.factor)
        # With every event bad, the long window's ratio reaches t after t * long_window.
        fastest = t * parse_duration(policy.long_window) if t < 1 else None
        rows.append(
            {
                "severity": policy.severity if slo.page or policy not in burn.page else burn.tickets[0].severity,
                "long": policy.long_window,
                "short": policy.short_window,
                "factor": policy.factor,
                "threshold": t,
                "fastest_detection_s": fastest,
            }
        )
    return rows


def _indent(text: str, by: int = 2) -> str:
    return "\n".join((" " * by + line) if line else line for line in text.splitlines())
