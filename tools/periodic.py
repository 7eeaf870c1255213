"""A step run every few seconds on a daemon thread, until stopped: the background loops of the
live tests and the game day (the Grafana stand-in querying Thanos, the kubelet stand-in ending
driver pods, the Spark applications a game day submits) share this one."""

from __future__ import annotations

import threading


class Periodic:
    """Calls ``step()`` every ``every`` seconds (first right away when ``first_now``) until ``stop()``."""

    def __init__(self, every: float, name: str, first_now: bool = False):
        self.every, self.first_now = every, first_now
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def step(self) -> None:
        raise NotImplementedError

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=15)

    def _loop(self) -> None:
        if self.first_now:
            self.step()
        while not self.stopped.wait(self.every):
            self.step()
