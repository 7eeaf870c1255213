"""MTTD budget of every critical alert the stack deploys, and each SLO's burn-rate thresholds.

    python -m tools.slo_report --stack prod      # make slo-report STACK=prod

The alerts are those of the PrometheusRule resources the stack renders (its own layers, its
own SLO rules), not every rule file: a stack without the Hive layer has no HiveMetastoreDown.

Worst-case time from fault to notification of a critical alert, once its condition holds:

    scrape interval                      (the fault becomes a sample)
  + interval of each recording group the expression reads, along the longest chain
  + the alert's own group interval       (group ``interval`` or prometheusEvaluationInterval)
  + ``for``
  + Alertmanager ``group_wait`` of the route severity=critical takes

All numbers come from the stack's settings, the rule files and the generated
Alertmanager config. Not included: a new alert joining an already-notified group waits
``group_interval`` instead of ``group_wait``; for burn-rate pages, the time the long
window needs to cross its threshold (printed per SLO below as "fastest at 100 % errors").
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from tools.mock_engine import ROOT

RULES_DIR = ROOT / "rules"
MTTD_TARGET_S = 300
_RECORDED = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+")


@dataclass(frozen=True)
class MttdRow:
    alert: str
    file: str
    group: str
    labels: str
    scrape_s: float
    upstream_s: float
    group_s: float
    for_s: float
    group_wait_s: float

    @property
    def total_s(self) -> float:
        return self.scrape_s + self.upstream_s + self.group_s + self.for_s + self.group_wait_s


def _seconds(text: Optional[str]) -> float:
    from core.parsers import parse_duration

    return parse_duration(text) if text else 0.0


def load_rule_documents(rules_dir: Path = RULES_DIR, extra: Optional[dict[str, dict]] = None) -> dict[str, dict]:
    docs = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) or {} for p in sorted(rules_dir.glob("*.rules.yaml"))}
    docs.update(extra or {})
    return docs


def _recording_intervals(docs: dict[str, dict], default_s: float) -> dict[str, list[tuple[float, str, str, int]]]:
    """Recorded name -> every rule recording it: (group interval s, expression, group key, position)."""
    out: dict[str, list[tuple[float, str, str, int]]] = {}
    for file_name, doc in docs.items():
        for group in doc.get("groups") or []:
            interval = _seconds(group.get("interval")) or default_s
            for index, rule in enumerate(group.get("rules") or []):
                if "record" in rule:
                    out.setdefault(rule["record"], []).append((interval, rule["expr"], f"{file_name};{group['name']}", index))
    return out


def upstream_delay(expr: str, recordings: dict, where: tuple[str, int] = ("", 1 << 30), seen: frozenset[str] = frozenset()) -> float:
    """Longest chain of recording-group intervals an expression waits for.

    ``where`` = (group key, position) of the rule reading ``expr``. A recording earlier in
    the same group is evaluated in the same tick and adds no interval (its inputs still do);
    a name recorded in that group (e.g. one SLO's ratios, labelled slo=...) is read from it.
    Otherwise every rule recording the name counts and the slowest wins.
    """
    worst = 0.0
    for name in set(_RECORDED.findall(expr)):
        if name not in recordings or name in seen:
            continue
        entries = recordings[name]
        local = [e for e in entries if e[2] == where[0] and e[3] < where[1]]
        for interval, inner, group, index in local or entries:
            hop = 0.0 if local else interval
            worst = max(worst, hop + upstream_delay(inner, recordings, (group, index), seen | {name}))
    return worst


def critical_group_wait(am_config: dict[str, Any]) -> float:
    """Alertmanager's worst delay before a critical notification.

    A new group waits group_wait; an alert joining a group that already notified waits
    group_interval. The worse of the two counts.
    """
    route = am_config["route"]
    critical = next((c for c in route.get("routes") or [] if 'severity="critical"' in (c.get("matchers") or [])), {})
    wait = _seconds(critical.get("group_wait") or route.get("group_wait"))
    interval = _seconds(critical.get("group_interval") or route.get("group_interval"))
    return max(wait, interval)


def mttd_rows(docs: dict[str, dict], scrape_interval: str, evaluation_interval: str, am_config: dict[str, Any]) -> list[MttdRow]:
    default_s = _seconds(evaluation_interval)
    recordings = _recording_intervals(docs, default_s)
    wait = critical_group_wait(am_config)
    rows = []
    for file_name, doc in docs.items():
        for group in doc.get("groups") or []:
            interval = _seconds(group.get("interval")) or default_s
            for index, rule in enumerate(group.get("rules") or []):
                labels = rule.get("labels") or {}
                if "alert" not in rule or labels.get("severity") != "critical":
                    continue
                extra = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("severity", "component"))
                rows.append(
                    MttdRow(
                        alert=rule["alert"],
                        file=file_name,
                        group=group["name"],
                        labels=extra,
                        scrape_s=_seconds(scrape_interval),
                        upstream_s=upstream_delay(rule["expr"], recordings, (f"{file_name};{group['name']}", index)),
                        group_s=interval,
                        for_s=_seconds(rule.get("for")),
                        group_wait_s=wait,
                    )
                )
    return rows


def _fmt(seconds: Optional[float]) -> str:
    if seconds is None:
        return "never"
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def format_mttd(rows: Iterable[MttdRow]) -> str:
    head = ("alert", "labels", "scrape", "upstream", "group", "for", "notify", "total", f"<= {_fmt(MTTD_TARGET_S)}")
    lines = [head]
    for r in rows:
        lines.append(
            (
                r.alert,
                r.labels or "-",
                _fmt(r.scrape_s),
                _fmt(r.upstream_s),
                _fmt(r.group_s),
                _fmt(r.for_s),
                _fmt(r.group_wait_s),
                _fmt(r.total_s),
                "ok" if r.total_s <= MTTD_TARGET_S else "OVER",
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def format_slos(slos) -> str:
    from components.slo.rules import burn_thresholds

    out = []
    for slo in slos:
        budget = 1 - slo.objective
        out.append(f"SLO {slo.name}: objective {slo.objective:g}, window {slo.window}, error budget {budget:.6g}")
        out.append(f"  {'severity':<9} {'long':>4} {'short':>5} {'burn':>5} {'error-ratio >':>14} {'fastest at 100% errors':>24}")
        for row in burn_thresholds(slo):
            out.append(
                f"  {row['severity']:<9} {row['long']:>4} {row['short']:>5} {row['factor']:>4g}x {row['threshold']:>14.6g} "
                f"{_fmt(row['fastest_detection_s']):>24}"
            )
        out.append(f"  budget exhausted alert: dataops:slo:error_budget_remaining < 0.1 (over {slo.window})")
    return "\n".join(out)


RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def deployed_rule_documents(stack: str) -> dict[str, dict]:
    """PrometheusRule name -> {"groups": [...]}: what the stack deploys (its render, placeholder secrets)."""
    import json

    from tools.mock_engine import run_program, stack_config

    config, secret_keys = stack_config(stack, placeholder_secrets=True)
    run = run_program(stack, config, secret_keys)

    def plain(value: Any) -> Any:
        return getattr(value, "value", str(value))

    return {r.name: {"groups": json.loads(json.dumps(r.inputs["spec"]["groups"], default=plain))}
            for r in sorted(run.registrations, key=lambda r: r.name) if r.type == RULE_CR}


def not_deployed_alerts(deployed: dict[str, dict]) -> list[str]:
    """Alerts of the repository's rule files that this stack does not deploy (layers that are off)."""
    have = {rule["alert"] for doc in deployed.values() for g in doc["groups"] for rule in g.get("rules") or [] if "alert" in rule}
    files = load_rule_documents()
    return sorted({rule["alert"] for doc in files.values() for g in doc.get("groups") or [] for rule in g.get("rules") or []
                   if "alert" in rule and rule["alert"] not in have})


def report(stack: str = "prod") -> tuple[str, list[MttdRow]]:
    from components.alerting.alertmanager_config import alertmanager_config
    from tools.slo_rules import load_stack_settings

    settings = load_stack_settings(stack)
    docs = deployed_rule_documents(stack)
    am = alertmanager_config(settings.routing, settings.cluster_name, settings.environment, has_pagerduty=True, has_slack=True)
    rows = mttd_rows(docs, settings.prometheus.scrape_interval, settings.prometheus.evaluation_interval, am)
    alerts = sorted({rule["alert"] for doc in docs.values() for g in doc["groups"] for rule in g.get("rules") or [] if "alert" in rule})
    missing = not_deployed_alerts(docs)
    text = (
        f"Stack {stack} deploys {len(docs)} PrometheusRules ({', '.join(docs)}) with {len(alerts)} alerts"
        + (f"; not deployed here: {', '.join(missing)}" if missing else "") + ".\n\n"
        + f"MTTD of critical alerts, stack {stack} (scrape {settings.prometheus.scrape_interval}, "
        f"evaluation {settings.prometheus.evaluation_interval}, notify = max(group_wait, critical group_interval); target <= {_fmt(MTTD_TARGET_S)})\n"
        + format_mttd(rows)
        + "\n\n"
        + format_slos(settings.slos)
        + "\n"
    )
    return text, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="MTTD budget of every critical alert and each SLO's burn-rate thresholds.")
    parser.add_argument("--stack", default="prod", help="stack whose Pulumi.<stack>.yaml to read (default prod)")
    args = parser.parse_args(argv)
    from settings import ENVIRONMENTS

    # A stack named after an environment (dev) renders from defaults without a stack file.
    if not (ROOT / f"Pulumi.{args.stack}.yaml").exists() and args.stack not in ENVIRONMENTS:
        parser.error(f"no Pulumi.{args.stack}.yaml")
    text, rows = report(args.stack)
    print(text, end="")
    return 0 if all(r.total_s <= MTTD_TARGET_S for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
