"""Real Prometheus-family binaries on 127.0.0.1 for integration tests: bounded, and always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
from tools.loopback import free_port, http_get  # noqa: F401 - the tests import them from here


TOOLS_BIN = Path(__file__).resolve().parent.parent / ".tools" / "bin"


def tool(name: str) -> str:
    """``.tools/bin/<name>``: the pinned binary `make tools` unpacks (tools/tool-versions.txt).

    Never one from PATH, whose version nobody chose. Missing: a failure under CI=true (CI must
    not go green by skipping), a skip elsewhere."""
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing on CI: `make tools` (tools/fetch_tools.sh) must provide it")
        pytest.skip(f"{path} not found: run `make tools`")
    return str(path)


def built_program(name: str, built_by: str = "`make tools`") -> Optional[str]:
    """A program built from its wrapper Go module (e2e/build.py; `make tools` builds the live
    group, ``built_by`` names what builds the others), or None when it is not built.

    Where Go is installed, CI must have built it: a missing one fails there instead of letting
    a stand-in pass for it."""
    from e2e.build import binary_path

    path = binary_path(name)
    if os.access(path, os.X_OK):
        return str(path)
    if os.environ.get("CI", "").lower() == "true" and shutil.which("go"):
        pytest.fail(f"{path} is missing on CI although Go is installed: {built_by} must build {name}")
    return None


def control_plane_and(program: str) -> dict[str, str]:
    """Paths of the e2e's control-plane binaries and of ``program`` (a `make tools` build); the
    test is skipped when one is not built (failed on CI where Go is installed: built_program)."""
    from e2e.cluster import CONTROL_PLANE

    found = {name: built_program(name, "`make test-live` (python -m e2e.build)") for name in CONTROL_PLANE}
    found[program] = built_program(program)
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        pytest.skip(f"not built: {', '.join(missing)} (`make e2e-build`, `make tools`; needs Go)")
    return found  # type: ignore[return-value]


def with_package_share(args: list[str], package: str) -> list[str]:
    """``args`` run so that the process finds the files ``package`` installs under /usr/share.

    Debian patches some programs to read data files from hard-coded /usr/share paths (its
    Alertmanager reads /usr/share/prometheus/alertmanager/default.tmpl, which upstream
    embeds). `make tools` unpacks them under .tools/pkgs/<package>/usr/share: the process
    sees them through an overlay on /usr/share in its own mount namespace (as root, or in a
    user namespace otherwise). The machine's /usr/share is not touched."""
    share = TOOLS_BIN.parent / "pkgs" / package / "usr" / "share"
    if not share.is_dir():
        pytest.fail(f"{share} is missing: run `make tools`")
    unshare = ["unshare", "--mount", "--propagation", "private"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    script = 'mount -t overlay overlay -o "lowerdir=$0:/usr/share" /usr/share && exec "$@"'
    return [*unshare, "sh", "-c", script, str(share), *args]


def wait_until(check: Callable[[], Optional[object]], timeout: float, what: str, interval: float = 0.25):
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError, KeyError) as err:
            last_error = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


@contextlib.contextmanager
def running(args: list[str], log: Path, ready_url: str, timeout: float = 20.0, cwd: Optional[Path] = None) -> Iterator[subprocess.Popen]:
    """Start a server, wait for ``ready_url``, and stop it (SIGTERM, then SIGKILL) whatever happens."""
    for arg in args:
        if arg.startswith("--web.listen-address="):
            assert arg.split("=", 1)[1].startswith("127.0.0.1:"), "integration servers bind to loopback only"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    try:
        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"{args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            return http_get(ready_url)

        wait_until(ready, timeout, f"{Path(args[0]).name} at {ready_url}")
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a process started in its own session, by its process group: SIGTERM, then SIGKILL
    after ``grace`` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def prom_query(base_url: str, query: str) -> list[dict]:
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    body = json.loads(http_get(url))
    if body.get("status") != "success":
        raise ValueError(body)
    return body["data"]["result"]


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(TYPE per family, samples as (name, labels, value)) of a text or OpenMetrics exposition."""
    types: dict[str, str] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            match = _SAMPLE.match(line)
            assert match, f"unparsable exposition line: {line!r}"
            name, labels, value = match.groups()
            samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return types, samples
