"""The game day's world for the tests that check tools/gameday without starting anything: from
ORIGIN to the planned break T0, every target shaped by the monitor the stack renders for it."""

from __future__ import annotations

from tools.gameday.rendered import Rendered, critical_alerts
from tools.gameday.targets import apply_monitor
from tools.gameday.world import World, build_world

ORIGIN = 1_000_000.0
T0 = ORIGIN + 3660


def world_of(rendered: Rendered) -> World:
    world = build_world(rendered, ORIGIN, T0, {a.alertname for a in critical_alerts(rendered)})
    for target in world.targets.values():
        apply_monitor(target, rendered, rendered.scrape_interval)
    return world
