"""The real Pulumi CLI, set up for one e2e run: local file backend, passphrase secrets,
plugins only from our builds (automatic download off), everything under the run folder."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from e2e.build import binary_path
from e2e.paths import REPO_ROOT

# The plugin versions our Python SDKs request (their pulumi-plugin.json); our builds are
# installed under exactly these versions so the engine finds them without downloading.
KUBERNETES_PLUGIN_VERSION = "4.34.2"
# Copied into the run's project folder: what the program, its stack files and the policy pack
# need (not .git, the venv, builds or caches).
PROJECT_EXCLUDES = {".git", ".venv", "build", ".tools", ".pytest_cache", "__pycache__", ".ruff_cache", "e2e"}


class PulumiError(RuntimeError):
    def __init__(self, argv: list[str], result: subprocess.CompletedProcess):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        super().__init__(f"`{' '.join(argv)}` exited {result.returncode}:\n{tail}")
        self.result = result


@dataclass
class PulumiCli:
    run_dir: Path
    kubeconfig: Path
    timings: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.run_dir / "pulumi-home"
        self.state = self.run_dir / "pulumi-state"
        self.project = self.run_dir / "project"
        # The passphrase of this run's secrets provider: random per run, kept only in the run
        # folder (mode 0600) so `make down` can decrypt what `make up` encrypted.
        self.passphrase_file = self.run_dir / "passphrase"
        if not self.passphrase_file.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(16))
        bin_dirs = {binary_path("pulumi").parent, binary_path("pulumi-language-python").parent}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
            "PATH": os.pathsep.join([*sorted(str(d) for d in bin_dirs), os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.state}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "PULUMI_EXPERIMENTAL": "true",  # update plans (--save-plan / --plan)
            "KUBECONFIG": str(self.kubeconfig),
            "NO_COLOR": "1",
        }

    def prepare(self) -> None:
        """The project copy, the state folder and the plugins."""
        self.state.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.copytree(REPO_ROOT, self.project, ignore=lambda _d, names: [n for n in names if n in PROJECT_EXCLUDES])
        # The program and the policy pack run in the repository's virtualenv (make venv).
        (self.project / ".venv").symlink_to(REPO_ROOT / ".venv")
        self.run(["plugin", "install", "resource", "kubernetes", KUBERNETES_PLUGIN_VERSION, "--file", str(binary_path("pulumi-resource-kubernetes"))])

    def run(self, args: list[str], stack: Optional[str] = None, check: bool = True, timed: Optional[str] = None, timeout: float = 1200) -> subprocess.CompletedProcess:
        argv = [str(binary_path("pulumi")), *args, "--non-interactive"]
        if stack:
            argv += ["--stack", stack]
        started = time.monotonic()
        result = subprocess.run(argv, cwd=self.project, env=self.env, capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - started
        log = self.run_dir / "logs" / "pulumi.log"
        with log.open("a") as out:
            out.write(f"\n$ pulumi {' '.join(args)} (stack {stack}) -> {result.returncode} in {elapsed:.1f}s\n{result.stdout}\n{result.stderr}\n")
        if timed:
            self.timings.append({"stack": stack, "step": timed, "seconds": round(elapsed, 1), "exit": result.returncode})
        if check and result.returncode != 0:
            raise PulumiError(argv, result)
        return result

    def json(self, args: list[str], stack: Optional[str] = None, **kwargs) -> dict:
        result = self.run([*args, "--json"], stack=stack, **kwargs)
        return json.loads(result.stdout)

    def version(self) -> str:
        return self.run(["version"]).stdout.strip()
