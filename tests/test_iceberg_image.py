"""The Iceberg exporter image's build steps, without a Docker engine (none runs on these machines).

Replays exporters/iceberg/Dockerfile: a fresh virtualenv gets exactly the pinned requirements
with --no-deps (so a missing transitive pin fails here, as it would in the image), only the
files the Dockerfile COPYs are present, and the ENTRYPOINT starts and serves /metrics.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import venv

from tests.conftest import ROOT
from tests.live import free_port, http_get, running

DOCKERFILE = ROOT / "exporters" / "iceberg" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [tuple(line.split(" ", 1)) for line in lines]  # type: ignore[misc]


def test_dockerfile_is_slim_pinned_non_root_with_a_module_entrypoint():
    steps = _instructions()
    base = next(arg for op, arg in steps if op == "FROM")
    assert re.match(r"^python:3\.\d+\.\d+-slim", base), base  # pinned patch version, slim
    assert any(op == "USER" and not arg.startswith(("root", "0")) for op, arg in steps)
    assert ("ENTRYPOINT", '["python", "-m", "exporters.iceberg"]') in steps
    installs = [arg for op, arg in steps if op == "RUN" and "pip install" in arg]
    assert installs and all("--no-deps -r" in arg for arg in installs)
    for requirement in (ROOT / "exporters" / "iceberg" / "requirements.txt").read_text().splitlines():
        requirement = requirement.split("#", 1)[0].strip()
        if requirement:
            assert "==" in requirement, f"unpinned: {requirement}"


def test_image_build_steps_install_and_start_the_exporter(tmp_path):
    app = tmp_path / "app"
    for op, arg in _instructions():
        if op == "COPY":
            source, target = arg.split()
            destination = app / target.removeprefix("/app/")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, destination)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r", str(app / "requirements.txt")],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr  # every dependency is pinned in the file

    port = free_port()
    args = [str(python), "-m", "exporters.iceberg", "--port", str(port), "--listen-address", "127.0.0.1", "--interval", "1s"]
    # cwd is the image's WORKDIR: only the copied files are importable.
    with running(args, tmp_path / "exporter.log", f"http://127.0.0.1:{port}/metrics", timeout=60, cwd=app):
        body = http_get(f"http://127.0.0.1:{port}/metrics").decode()
    assert "iceberg_exporter_up" in body
