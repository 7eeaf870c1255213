"""Paths, budgets and small helpers every part of the game day shares."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional




ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BIN = ROOT / ".tools" / "bin"
BUDGET_S = 300.0
RULE_CR = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
MONITOR_TYPES = {
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": "ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": "PodMonitor",
    "kubernetes:monitoring.coreos.com/v1:Probe": "Probe",
}
HISTORY_S = 6 * 3600 + 15 * 60  # healthy history before the run: the 6h SLO windows are full


def log(message: str) -> None:
    print(f"[gameday {time.strftime('%H:%M:%S')}] {message}", flush=True)


def seconds(duration: Optional[str]) -> float:
    from core.settings import parse_duration

    return float(parse_duration(duration)) if duration else 0.0


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    value = round(value)
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


