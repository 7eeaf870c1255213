"""Start and stop the e2e's servers by PID, and clean up after a run that was killed.

Every process is recorded in <run dir>/pids.json as it starts. A later run reads that file,
and stops a recorded PID only if /proc still shows it started with this run dir in its
command line (a reused PID belongs to someone else and is left alone). Nothing is ever
stopped by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def _signal_group(pid: int, sig: int) -> None:
    """Each server is started as the leader of its own process group (start_new_session), so
    its group id is its PID: signal it and whatever it started (a restart loop's child)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def stop_pid(pid: int, marker: str, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds, the process ``pid`` (and its group) if its
    command line contains ``marker`` (this run's folder). Returns whether it was ours and is now gone."""
    if not _alive(pid) or marker not in _cmdline(pid):
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not _alive(pid):
            return True
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return True


@dataclass
class ProcessGroup:
    """The servers of one run, recorded in ``run_dir/pids.json``."""

    run_dir: Path

    @property
    def record(self) -> Path:
        return self.run_dir / "pids.json"

    def _read(self) -> dict[str, int]:
        """name -> PID, in the order they were started."""
        try:
            return dict(json.loads(self.record.read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    def start(self, name: str, argv: list[str], env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> subprocess.Popen:
        log = open(self.run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd or self.run_dir, start_new_session=True
        )
        log.close()
        pids = self._read()
        pids[name] = process.pid
        self.record.write_text(json.dumps(list(pids.items())))  # a list keeps the start order
        return process

    def stop_all(self) -> list[str]:
        """Stop every recorded process, newest first; returns the names that were stopped."""
        stopped = []
        for name, pid in reversed(list(self._read().items())):
            if stop_pid(pid, str(self.run_dir)):
                stopped.append(name)
        if self.record.exists():
            self.record.unlink()
        return stopped

    def check_running(self) -> list[str]:
        """Names of recorded processes that have exited (a crash during the run)."""
        return [name for name, pid in self._read().items() if not _alive(pid)]
