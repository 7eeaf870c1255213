"""Burn-rate tiers derived from an SLO's window, as the SRE workbook defines them.

The workbook ("Alerting on SLOs", table 5-8) states each tier as *a share of the error
budget consumed in a window*, and gives the 30-day numbers (14.4 / 6 / 3 / 1). Those
numbers only mean "2 % of the budget in 1 hour" for a 30-day SLO; for a 7-day or 90-day SLO
the same factors alert on something else. So the tiers are kept as shares and proportions
(sloth does the same) and the factors and windows are computed for each SLO window:

* long window = SLO window × proportion (1/720, 1/120, 1/30, 1/10), whole minutes, at most
  ``MAX_LONG_WINDOW`` (3d: the burn-rate windows stay in Prometheus, whose retention the
  settings require to hold them);
* short window = long window / 12, whole minutes, at least 5m (the workbook's 5m for 1h);
* factor = share × SLO window / long window: a capped tier keeps its share, so its factor
  grows (a 60d SLO's medium ticket: 10 % in 3d = factor 2);
* a tier whose (capped) long window equals the previous tier's is dropped: it would say the
  same thing with a weaker factor (90d: the 9d ticket).

For a 30-day SLO this gives exactly the workbook's table: 1h/5m 14.4, 6h/30m 6 (page),
1d/2h 3 (ticket high), 3d/6h 1 (ticket medium).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from core.parsers import parse_duration

MINUTE = 60
MAX_LONG_WINDOW_S = 3 * 86400
MAX_LONG_WINDOW = "3d"
MIN_SHORT_WINDOW_S = 5 * MINUTE
SHORT_DIVISOR = 12


@dataclass(frozen=True)
class Tier:
    """A workbook tier: ``share`` of the budget consumed within ``proportion`` of the SLO window."""

    severity: str
    share: float
    proportion: float


# The page is the first two tiers ORed into one alert; tickets are one tier each.
PAGE_TIERS = (Tier("critical", 0.02, 1 / 720), Tier("critical", 0.05, 1 / 120))
TICKET_TIERS = (Tier("high", 0.10, 1 / 30), Tier("medium", 0.10, 1 / 10))


@dataclass(frozen=True)
class BurnPolicy:
    """One SLOErrorBudgetBurn window pair for a given SLO window."""

    severity: str
    factor: float
    long_window: str
    short_window: str
    share: float

    @property
    def budget_share(self) -> str:
        """What the on-call reads: how much budget this burn eats (``1시간 24분에 예산의 5%``)."""
        return f"{korean_duration(parse_duration(self.long_window))}에 예산의 {self.share * 100:g}%"

    def threshold(self, objective: float) -> float:
        """The error ratio both windows must exceed."""
        return number(self.factor * (1 - objective))


@dataclass(frozen=True)
class Policies:
    page: tuple[BurnPolicy, ...]
    tickets: tuple[BurnPolicy, ...]

    @property
    def all(self) -> tuple[BurnPolicy, ...]:
        return self.page + self.tickets

    @property
    def windows(self) -> tuple[str, ...]:
        """Every long and short window these pairs read, shortest first."""
        found = {w for p in self.all for w in (p.long_window, p.short_window)}
        return tuple(sorted(found, key=parse_duration))


def number(value: float) -> float:
    """A value without float noise (14.4 * 0.001 -> 0.0144)."""
    return float(f"{value:.10g}")


def prometheus_duration(seconds: float) -> str:
    """Whole seconds as a Prometheus duration, largest units first (5040 -> ``1h24m``, 86400 -> ``1d``)."""
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def korean_duration(seconds: float) -> str:
    """The same duration as on-call text: 5040 -> ``1시간 24분``, 86400 -> ``1일``."""
    rest = int(seconds)
    parts = []
    for unit, size in (("일", 86400), ("시간", 3600), ("분", 60), ("초", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts)


def _minutes(seconds: float) -> int:
    """Nearest whole minutes, in seconds (rule names and Prometheus ranges read best in minutes)."""
    return max(1, round(seconds / MINUTE)) * MINUTE


def _policy(tier: Tier, window_s: float) -> BurnPolicy:
    long_s = min(_minutes(window_s * tier.proportion), MAX_LONG_WINDOW_S)
    short_s = max(_minutes(long_s / SHORT_DIVISOR), MIN_SHORT_WINDOW_S)
    factor = number(tier.share * window_s / long_s)
    return BurnPolicy(
        severity=tier.severity,
        # A whole factor as an int: what the dashboards draw reads 6, not 6.0, whichever way it was computed.
        factor=int(factor) if factor.is_integer() else factor,
        long_window=prometheus_duration(long_s),
        short_window=prometheus_duration(short_s),
        share=tier.share,
    )


def policies(window: str) -> Policies:
    """The burn-rate pairs of an SLO over ``window``; a tier landing on the previous tier's long window is dropped."""
    window_s = parse_duration(window)
    kept: list[tuple[Tier, BurnPolicy]] = []
    for tier in PAGE_TIERS + TICKET_TIERS:
        policy = _policy(tier, window_s)
        if kept and kept[-1][1].long_window == policy.long_window:
            continue
        kept.append((tier, policy))
    return Policies(
        page=tuple(p for t, p in kept if t in PAGE_TIERS),
        tickets=tuple(p for t, p in kept if t in TICKET_TIERS),
    )


def impossible(objective: float, window: str) -> Optional[BurnPolicy]:
    """The highest-factor pair that can never fire at this objective (its threshold is an
    error ratio of 1 or more, and an error ratio never exceeds 1), or None."""
    worst = max(policies(window).all, key=lambda p: p.factor)
    return worst if worst.threshold(objective) >= 1 else None


def smallest_objective(window: str, digits: int = 4) -> float:
    """The smallest objective with ``digits`` decimals at which every pair of ``window`` can fire."""
    factor = max(p.factor for p in policies(window).all)
    scale = 10**digits
    k = math.floor((1 - 1 / factor) * scale)
    while number(factor * (1 - k / scale)) >= 1:
        k += 1
    return number(k / scale)
