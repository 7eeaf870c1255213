"""The programs we deploy, obtained for real so the live tests run them rather than stand-ins.

Kept outside the clone (``~/.cache/dataops-monitoring/live``, ``DATAOPS_LIVE_CACHE`` moves it),
keyed by version, so CI on the same machine reuses what a session fetched:

- Go programs (Thanos, statsd_exporter, kube-state-metrics; and gofakes3, the MIT S3-compatible
  server the object-storage test runs, not deployed): built by ``e2e.build --group live`` from
  our wrapper modules in ``e2e/gomod/`` (needs Go; without it the tests use their named
  stand-ins or skip).
- The jmx_exporter javaagent our Spark/Hive/Trino JVM config targets: the jar from Maven Central,
  checked against the SHA-1 Maven Central publishes for it (pinned here).
- Airflow and PySpark at the versions the platform runs, each in its own venv (their pins clash
  with ours and with each other), for ``make test-live``.

    python -m tools.live_programs install            # what `make tools` needs (Go builds, jar)
    python -m tools.live_programs install --heavy    # also the Airflow and PySpark venvs
    python -m tools.live_programs summary
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LIVE_CACHE = Path(
    os.environ.get("DATAOPS_LIVE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dataops-monitoring" / "live"
)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class MavenJar:
    group: str
    artifact: str
    version: str
    sha1: str  # as Maven Central publishes it (<jar>.sha1); a different download is refused

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"

    @property
    def path(self) -> Path:
        return LIVE_CACHE / "maven" / self.file_name


@dataclass(frozen=True)
class PythonProgram:
    """A program from PyPI in a venv of its own, keyed by version."""

    name: str
    version: str
    requirements: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return LIVE_CACHE / f"{self.name}-{self.version}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def bin(self, program: str) -> Path:
        return self.venv / "bin" / program

    @property
    def installed(self) -> bool:
        return (self.venv / ".installed").exists()


# jmx_exporter 0.20.0: the agent components/spark/assets/spark-jmx-exporter.yaml is written for.
JMX_AGENT = MavenJar("io.prometheus.jmx", "jmx_prometheus_javaagent", "0.20.0", "7b8a98e3482cee8889698ef391b85c47a3c4ce5b")
# The SparkApplication the platform runs (components/spark/assets/spark-application-example.yaml:
# sparkVersion 3.5.3); PySpark's wheel carries Spark's jars and runs a local driver on Java 17.
PYSPARK = PythonProgram("spark", "3.5.3", ("pyspark==3.5.3",))
# Airflow 3 (docs/compatibility.md), with the statsd client its StatsD metrics need.
AIRFLOW = PythonProgram("airflow", "3.3.2", ("apache-airflow==3.3.2", "statsd==4.0.1"))

HEAVY_PROGRAMS = (PYSPARK, AIRFLOW)


def fetch_jar(jar: MavenJar) -> Path:
    if jar.path.exists() and hashlib.sha1(jar.path.read_bytes()).hexdigest() == jar.sha1:
        return jar.path
    jar.path.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(jar.url, timeout=120) as response:
        data = response.read()
    digest = hashlib.sha1(data).hexdigest()
    if digest != jar.sha1:
        raise SystemExit(f"live programs: {jar.url}: SHA-1 {digest}, expected {jar.sha1}; not installed")
    partial = jar.path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.rename(jar.path)
    return jar.path


def install_python_program(program: PythonProgram) -> Path:
    if program.installed:
        return program.venv
    shutil.rmtree(program.venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(program.venv)], check=True)
    pip = [str(program.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *program.requirements], check=True)
    frozen = subprocess.run([str(program.python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    (program.venv / ".installed").write_text(frozen.stdout)
    return program.venv


def build_go_programs() -> int:
    """The live group of e2e/build.py; 0 when built or cached, 2 when Go is not installed."""
    if shutil.which("go") is None:
        print("live programs: Go is not installed: Thanos, statsd_exporter and kube-state-metrics are not built; "
              "the tests that need them use their named stand-ins or skip")
        return 2
    from e2e.build import main as build_main

    return build_main(["--group", "live"])


def go_binary(name: str) -> Path:
    """Path of a live Go program (built or not)."""
    from e2e.build import binary_path

    return binary_path(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("install", "summary"))
    parser.add_argument("--heavy", action="store_true", help="also the Airflow and PySpark venvs (make test-live)")
    args = parser.parse_args(argv)
    if args.command == "summary":
        print(f"live programs: {JMX_AGENT.file_name}: {'present' if JMX_AGENT.path.exists() else 'missing'}")
        for program in HEAVY_PROGRAMS:
            print(f"live programs: {program.name} {program.version}: {'installed' if program.installed else 'missing'} ({program.venv})")
        return 0
    print(f"live programs: {fetch_jar(JMX_AGENT)}")
    code = build_go_programs()
    if code not in (0, 2):
        return code
    if args.heavy:
        for program in HEAVY_PROGRAMS:
            print(f"live programs: {program.name} {program.version} in {install_python_program(program)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
