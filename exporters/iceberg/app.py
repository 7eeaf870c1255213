"""The running exporter: a background collection loop plus the HTTP server."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from prometheus_client import disable_created_metrics

from exporters.iceberg.collector import CycleResult, IcebergCollector
from exporters.iceberg.config import Config, ConfigError, load_config
from exporters.iceberg.metrics import Exposition
from exporters.iceberg.server import MetricsServer
from exporters.iceberg.serving import HEARTBEAT_SECONDS, Feed, Snapshot, fork_serving_process, reap, stop_serving_process

log = logging.getLogger("exporters.iceberg")

BACKOFF_BASE_SECONDS = 1.0


#: The loop waits in steps of at most this long, so any --interval (even one beyond
#: threading.TIMEOUT_MAX, whose single wait raised OverflowError and killed the loop) works.
MAX_WAIT_SECONDS = 3600.0


def backoff_delay(failures: int, interval: float, max_backoff: float) -> float:
    """Delay before retry number ``failures`` (1, 2, ...): 1s, 2s, 4s, ... capped."""
    cap = min(interval, max_backoff)
    # The exponent is bounded: 2 ** 1024 does not fit a float (OverflowError after ~1,000 failures).
    return min(cap, BACKOFF_BASE_SECONDS * 2.0 ** min(max(0, failures - 1), 62))


class Exporter:
    """Owns the collector, the exposition, the loop thread and (optionally) the server."""

    def __init__(self, config: Config, catalog: Callable[[], Any] | None = None):
        self.config = config
        self.collector = IcebergCollector(config, catalog=catalog)
        self.exposition = Exposition(self.collector)
        self.stop_event = threading.Event()
        self.server: MetricsServer | None = None
        self._thread: threading.Thread | None = None
        self.consecutive_failures = 0
        self.cycle_done = threading.Condition()
        self.cycles_attempted = 0
        self.started_at = time.monotonic()
        self.last_cycle_end: float | None = None  # monotonic end of the last completed cycle, ok or not
        self.freeze_gc_after_first_cycle = False  # main() sets it (a process-wide choice)
        self.after_cycle: Callable[[], None] | None = None  # main(): feed the serving process

    def run_once(self) -> CycleResult:
        result = self.collector.run_cycle(self.stop_event)
        self.exposition.observe_cycle(result.duration)
        render_seconds = 0.0
        if result.ok:
            start = time.monotonic()
            self.exposition.publish()
            render_seconds = time.monotonic() - start
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
        if self.after_cycle is not None:
            self.after_cycle()
        with self.cycle_done:
            self.cycles_attempted += 1
            self.last_cycle_end = time.monotonic()
            if self.cycles_attempted == 1 and self.freeze_gc_after_first_cycle:
                gc.freeze()  # see main()
            self.cycle_done.notify_all()
        c = self.collector
        log.info(
            "cycle %s in %.3fs (+%.3fs render): %d tables, %d unchanged, %d failed, "
            "%d metadata reads in total, errors %s",
            "ok" if result.ok else "FAILED (catalog unreachable)",
            result.duration,
            render_seconds,
            result.tables_seen,
            c.tables_unchanged if result.ok else 0,
            result.tables_failed,
            c.metadata_reads,
            result.errors or "none",
        )
        return result

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                result = self.run_once()
            except Exception:  # noqa: BLE001 - the loop must survive anything
                log.exception("collection cycle crashed")
                result = CycleResult(False, 0.0)
                self.consecutive_failures += 1
            if self.stop_event.is_set():
                break
            if result.ok:
                delay = max(0.0, self.config.interval - result.duration)
            else:
                delay = backoff_delay(self.consecutive_failures, self.config.interval, self.config.max_backoff)
                log.info("retrying in %.1fs", delay)
            self._sleep(delay)

    def _sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds (any size, even inf) or until stopped."""
        deadline = time.monotonic() + delay
        while not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.stop_event.wait(min(left, MAX_WAIT_SECONDS))

    def stale_after(self) -> float:
        """Seconds without collection progress after which /healthz answers 503.

        Progress is a completed cycle (successful or not: a down catalog is not a
        wedged exporter, and a restart would not help) or a catalog use (each listing
        and each table load starts with one, so a long cycle over many tables keeps
        reporting progress). Between cycles the loop sleeps at most --interval; within
        a cycle a call is abandoned after --table-timeout. So 3 x --interval plus
        2 x --table-timeout without progress means the loop is stuck.
        """
        return 3 * self.config.interval + 2 * self.config.table_timeout

    def health(self) -> tuple[bool, str]:
        """(healthy, reason) for /healthz: False if the collector thread died or is stuck."""
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self.stop_event.is_set():
            return False, "collector thread died"
        progress = max(self.started_at, self.last_cycle_end or 0.0, self.collector.catalogs.last_used)
        idle = time.monotonic() - progress
        limit = self.stale_after()
        if idle > limit:
            return False, (
                f"stale: no collection progress for {idle:.0f}s "
                f"(limit {limit:g}s = 3 x --interval + 2 x --table-timeout)"
            )
        return True, "ok"

    def wait_cycles(self, n: int, timeout: float) -> bool:
        """Block until at least ``n`` cycles were attempted (for tests and the benchmark)."""
        deadline = time.monotonic() + timeout
        with self.cycle_done:
            while self.cycles_attempted < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cycle_done.wait(left)
        return True

    def start(self, serve: bool = True) -> None:
        self.started_at = time.monotonic()
        if serve:
            self.server = MetricsServer(
                self.config.listen_address, self.config.port, self.exposition.body, health=self.health
            )
            self.server.start()
        self._thread = threading.Thread(target=self._loop, name="iceberg-collect", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self.server is not None:
            self.server.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.collector.close()


def _prepare_local_default(config: Config) -> None:
    """The embedded local SQL catalog: make its directories and its SQLite file.

    This is the only place a catalog file is ever created. The collector opens SQLite
    catalogs read-write without create (``mode=rw``), so for any other
    ``sqlite:///path`` a missing file is reported (kind ``catalog``), and a local
    default deleted while running is reported too, not silently recreated empty.
    """
    from pyiceberg.catalog import load_catalog

    db_path = config.catalog_uri[len("sqlite:///") :]
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    if config.warehouse and config.warehouse.startswith("file:"):
        Path(urlsplit(config.warehouse).path).mkdir(parents=True, exist_ok=True)
    props = config.catalog_props()
    props["init_catalog_tables"] = "true"  # create the catalog tables (and the file) if absent
    catalog = load_catalog(config.catalog_name, **props)
    engine = getattr(catalog, "engine", None)
    if engine is not None:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"iceberg-exporter: configuration error: {problem}", file=sys.stderr)
        return 2
    disable_created_metrics()  # no *_created series: they only add noise here
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if config.local_default:
        try:
            _prepare_local_default(config)
        except Exception as exc:  # noqa: BLE001 - reported as one line, like a configuration error
            print(
                f"iceberg-exporter: cannot create the local SQL catalog {config.catalog_uri}: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 2
        log.info("no catalog URI set: using the embedded local SQL catalog %s", config.catalog_uri)

    exporter = Exporter(config)
    snapshot = Snapshot()
    try:
        server = MetricsServer(config.listen_address, config.port, snapshot.body, health=snapshot.health)
    except OSError as exc:
        print(
            f"iceberg-exporter: configuration error: --listen-address/--port "
            f"(ICEBERG_EXPORTER_LISTEN_ADDRESS/ICEBERG_EXPORTER_PORT): cannot listen on "
            f"{config.listen_address}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2

    stop = exporter.stop_event

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # What is imported and built at start-up lives as long as the process: move it out of
    # the garbage collector's generations (again after the first cycle, which imports the
    # catalog client), so a full collection, which holds the GIL and so stalls scrapes,
    # scans only what later cycles allocate (measured: ~120 ms -> ~1 ms pauses).
    gc.freeze()
    exporter.freeze_gc_after_first_cycle = True
    port = server.port
    # Before any thread starts: the serving process gets only this one (see serving.py).
    serving_pid, feed_socket = fork_serving_process(server, snapshot)
    feed = Feed(exporter.exposition, feed_socket, exporter.health)
    exporter.after_cycle = feed.send
    log.info(
        "listening on http://%s:%d/metrics (serving process %d); catalog %s %s; interval %gs; "
        "small files < %d bytes; shard %d/%d",
        config.listen_address,
        port,
        serving_pid,
        config.catalog_type,
        config.redacted_uri(),
        config.interval,
        config.small_file_bytes,
        config.shard_index,
        config.shard_count,
    )
    exporter.start(serve=False)  # the serving process serves
    code = 0
    while not stop.wait(HEARTBEAT_SECONDS):
        feed.send()  # self-metrics and health, also during a long cycle
        status = reap(serving_pid)
        if status is not None:
            log.error("the serving process exited (status %s): stopping, so that the pod is restarted", status)
            code = 1
            break
    exporter.stop()
    feed.close()  # EOF: the serving process exits
    stop_serving_process(serving_pid)
    log.info("stopped")
    logging.shutdown()
    return code
