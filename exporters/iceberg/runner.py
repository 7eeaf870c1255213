"""A small pool of daemon worker threads that runs calls with a per-call time limit.

``concurrent.futures.ThreadPoolExecutor`` cannot give up on a call that hangs: its
worker stays busy, and its non-daemon threads are joined at interpreter exit, so
one hung catalog call could block both the next cycles and a SIGTERM shutdown.
Here a call that runs past its limit is abandoned: the caller gets a timeout
result, a replacement worker is started (up to a cap), and the stuck thread exits
on its own once the call returns. Worker threads are daemons and never block exit.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

log = logging.getLogger(__name__)

_QUEUED, _RUNNING, _DONE, _ABANDONED, _CANCELLED = range(5)


class CallTimeout(Exception):
    """The call ran past its time limit and was abandoned."""


class Cancelled(Exception):
    """The call was not started because the run was stopped."""


@dataclass
class Outcome:
    key: Hashable
    ok: bool
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


class _Task:
    __slots__ = ("key", "fn", "state", "start", "thread", "value", "error", "end")

    def __init__(self, key: Hashable, fn: Callable[[], Any]):
        self.key = key
        self.fn = fn
        self.state = _QUEUED
        self.start = 0.0
        self.end = 0.0
        self.thread: threading.Thread | None = None
        self.value: Any = None
        self.error: BaseException | None = None


class DeadlineRunner:
    def __init__(self, workers: int, name: str = "iceberg-worker", max_threads: int | None = None):
        self._workers = workers
        self._max_threads = max_threads or workers * 4
        self._name = name
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._threads: set[threading.Thread] = set()
        self._retired: set[threading.Thread] = set()
        self._finished: list[_Task] = []
        self._counter = 0
        self._closed = False

    # -- workers -----------------------------------------------------------------
    def _spawn(self) -> None:
        self._counter += 1
        t = threading.Thread(target=self._work, name=f"{self._name}-{self._counter}", daemon=True)
        self._threads.add(t)
        t.start()

    def _ensure_workers(self) -> None:
        with self._cond:
            active = len(self._threads - self._retired)
            while active < self._workers and len(self._threads) < self._max_threads:
                self._spawn()
                active += 1

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            task = self._queue.get()
            if task is None:
                break
            with self._cond:
                if task.state != _QUEUED:  # cancelled while queued
                    continue
                task.state = _RUNNING
                task.start = time.monotonic()
                task.thread = me
            try:
                value, error = task.fn(), None
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                value, error = None, exc
            with self._cond:
                task.end = time.monotonic()
                if task.state == _RUNNING:
                    task.state = _DONE
                    task.value, task.error = value, error
                    self._finished.append(task)
                    self._cond.notify_all()
                if me in self._retired:
                    break
        with self._cond:
            self._threads.discard(me)
            self._retired.discard(me)

    # -- API ---------------------------------------------------------------------
    def run(
        self,
        calls: Iterable[tuple[Hashable, Callable[[], Any]]],
        timeout: float,
        stop: threading.Event | None = None,
    ) -> list[Outcome]:
        """Run ``calls`` (key, zero-argument function) and return one Outcome per call.

        Each call gets ``timeout`` seconds from the moment a worker starts it. If
        ``stop`` is set, calls not yet started are cancelled and the run returns at once.
        """
        if self._closed:
            raise RuntimeError("runner is closed")
        self._ensure_workers()
        tasks = [_Task(key, fn) for key, fn in calls]
        outcomes: list[Outcome] = []
        if not tasks:
            return outcomes
        with self._cond:
            self._finished.clear()
        for task in tasks:
            self._queue.put(task)
        remaining = {id(t): t for t in tasks}
        with self._cond:
            while remaining:
                for task in self._finished:
                    if remaining.pop(id(task), None) is not None:
                        ok = task.error is None
                        outcomes.append(Outcome(task.key, ok, task.value, task.error, task.end - task.start))
                self._finished.clear()
                if not remaining:
                    break
                now = time.monotonic()
                next_deadline = None
                for task in list(remaining.values()):
                    if task.state != _RUNNING:
                        continue
                    deadline = task.start + timeout
                    if now >= deadline:
                        task.state = _ABANDONED
                        del remaining[id(task)]
                        outcomes.append(
                            Outcome(task.key, False, None, CallTimeout(f"over the {timeout:g}s limit"), now - task.start)
                        )
                        if task.thread is not None:
                            self._retired.add(task.thread)
                        log.warning("abandoned %s after %.1fs (time limit)", task.key, now - task.start)
                        active = len(self._threads - self._retired)
                        if active < self._workers and len(self._threads) < self._max_threads:
                            self._spawn()
                    elif next_deadline is None or deadline < next_deadline:
                        next_deadline = deadline
                if not remaining:
                    break
                if stop is not None and stop.is_set():
                    for task in remaining.values():
                        if task.state == _QUEUED:
                            task.state = _CANCELLED
                        elif task.state == _RUNNING:
                            task.state = _ABANDONED
                        outcomes.append(Outcome(task.key, False, None, Cancelled("stopping")))
                    remaining.clear()
                    break
                if len(self._threads - self._retired) == 0 and len(self._threads) >= self._max_threads:
                    # Every thread is stuck in an abandoned call: give up on the rest.
                    for task in remaining.values():
                        task.state = _CANCELLED
                        outcomes.append(Outcome(task.key, False, None, CallTimeout("no free worker")))
                    remaining.clear()
                    break
                wait = 0.25 if next_deadline is None else max(0.0, min(0.25, next_deadline - now))
                self._cond.wait(wait)
        return outcomes

    def call(self, key: Hashable, fn: Callable[[], Any], timeout: float, stop: threading.Event | None = None) -> Any:
        """Run one call with a time limit; return its value or raise its error (or CallTimeout)."""
        (outcome,) = self.run([(key, fn)], timeout, stop)
        if not outcome.ok:
            assert outcome.error is not None
            raise outcome.error
        return outcome.value

    def close(self) -> None:
        """Ask idle workers to exit (daemon threads: a stuck one never blocks exit)."""
        self._closed = True
        with self._cond:
            n = len(self._threads)
        for _ in range(n):
            self._queue.put(None)
