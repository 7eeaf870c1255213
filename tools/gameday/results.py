"""Measuring a game day: which notification is which scenario's alert, at which receiver, and the table of results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from tools.gameday.common import BUDGET_S, fmt
from tools.gameday.rendered import CriticalAlert
from tools.gameday.runtime import Notification, StandIn
from tools.gameday.scenarios import Expect, Scenario


# --------------------------------------------------------------------------------------------
# Measuring: which notification is which alert, at which receiver
# --------------------------------------------------------------------------------------------


def _pd_matches(n: Notification, expect: Expect) -> bool:
    payload = n.body.get("payload") or {}
    summary = payload.get("summary", "")
    if f"] {expect.alertname}:" not in summary and not summary.rstrip().endswith(f"] {expect.alertname}"):
        return False
    return all(v in summary for v in expect.labels.values())


def _slack_matches(n: Notification, expect: Expect) -> bool:
    for att in n.body.get("attachments") or []:
        title, text = att.get("title", ""), att.get("text", "")
        if f"] {expect.alertname} (" in title and f"`{expect.severity}`" in text and all(v in title + text for v in expect.labels.values()):
            return True
    return False


def _slack_firing(n: Notification) -> bool:
    return any("FIRING" in (a.get("title") or "") for a in n.body.get("attachments") or [])


def _slack_resolved(n: Notification) -> bool:
    return any("RESOLVED" in (a.get("title") or "") for a in n.body.get("attachments") or [])


@dataclass
class Result:
    expect: Expect
    scenario: Scenario
    detected: Optional[float] = None
    resolved: Optional[float] = None
    dedup_key: Optional[str] = None
    receivers: set[str] = field(default_factory=set)
    routing_key_ok: Optional[bool] = None
    resolve_window: float = 0.0

    @property
    def verdict(self) -> str:
        if self.detected is None:
            if self.receivers:
                return "WRONG RECEIVER"
            return "NOT FIRED (by design)" if self.expect.by_design else "MISSED"
        if self.expect.paging != ("pagerduty" in self.receivers):
            return "WRONG RECEIVER"
        if self.detected > BUDGET_S:
            return "MISSED"
        if self.routing_key_ok is False:
            return "BAD ROUTING KEY"
        return "ok"

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def update_results(results: list[Result], receivers: dict[str, StandIn], routing_key: Optional[str]) -> None:
    pd = receivers["pagerduty"].snapshot()
    slack = receivers["slack"].snapshot()
    deadman = receivers["deadman"].snapshot()
    for r in results:
        t0 = r.scenario.t0
        if not r.expect.paging:
            _update_extra(r, pd, slack)
            continue
        if r.detected is None:
            for n in pd:
                if n.t >= t0 and n.body.get("event_action") == "trigger" and _pd_matches(n, r.expect):
                    r.detected = n.t - t0
                    r.dedup_key = n.body.get("dedup_key")
                    r.receivers.add("pagerduty")
                    if routing_key is not None:
                        r.routing_key_ok = n.body.get("routing_key") == routing_key
                    break
        for n in slack:
            if n.t >= t0 and _slack_firing(n) and _slack_matches(n, r.expect):
                r.receivers.add(f"slack {n.body.get('channel', '')}".strip())
        for n in deadman:
            if n.t >= t0 and r.expect.alertname in json.dumps(n.body, ensure_ascii=False):
                r.receivers.add("deadman")
        if r.detected is not None and r.resolved is None and r.scenario.t_restore is not None:
            for n in pd:
                if n.t >= r.scenario.t_restore and n.body.get("event_action") == "resolve" and n.body.get("dedup_key") == r.dedup_key:
                    r.resolved = n.t - r.scenario.t_restore
                    break


def _update_extra(r: Result, pd: list[Notification], slack: list[Notification]) -> None:
    """A non-paging alert: detected at its firing Slack notification; a page for it is a wrong receiver."""
    t0 = r.scenario.t0
    for n in slack:
        if n.t >= t0 and _slack_firing(n) and _slack_matches(n, r.expect):
            r.receivers.add(f"slack {n.body.get('channel', '')}".strip())
            if r.detected is None:
                r.detected = n.t - t0
    if any(n.t >= t0 and _pd_matches(n, r.expect) for n in pd):
        r.receivers.add("pagerduty")
    if r.detected is not None and r.resolved is None and r.scenario.t_restore is not None:
        for n in slack:
            if n.t >= r.scenario.t_restore and _slack_resolved(n) and _slack_matches(n, r.expect):
                r.resolved = n.t - r.scenario.t_restore
                break


def format_table(results: list[Result], missing: list[CriticalAlert]) -> str:
    head = ("alert", "budget", "detection", "resolve", "receiver", "result", "scenario")
    rows = [head]
    for r in results:
        detection = fmt(r.detected) if r.detected is not None else f"none in {fmt(r.scenario.deadline - r.scenario.t0)}"
        if r.detected is None:
            resolve = "-"
        elif r.resolved is not None:
            resolve = fmt(r.resolved)
        elif r.scenario.t_restore is None:
            resolve = "not restored"
        else:
            resolve = f"none in {fmt(r.resolve_window)}" + (" (by design)" if r.expect.resolve_note else "")
        verdict = r.verdict
        rows.append((r.expect.key, fmt(BUDGET_S), detection, resolve, ", ".join(sorted(r.receivers)) or "-", verdict, r.scenario.name))
    for a in missing:
        rows.append((a.key, fmt(BUDGET_S), "-", "-", "-", "NO SCENARIO", "-"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    notes = {}
    for r in results:
        if r.expect.by_design and r.detected is None:
            notes[f"{r.expect.key} not fired"] = r.expect.by_design
        if r.expect.resolve_note and r.detected is not None and r.resolved is None:
            notes[f"{r.expect.key} resolve"] = r.expect.resolve_note
        if not r.expect.paging:
            notes[r.expect.key] = (f"an extra, non-paging check (severity {r.expect.severity}: Slack, not PagerDuty); "
                                   "detection is its firing Slack notification, within the same budget")
    lines += [f"  * {k}: {v}" for k, v in notes.items()]
    return "\n".join(lines)


