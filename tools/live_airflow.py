"""A real Airflow on 127.0.0.1 sending StatsD to a real statsd_exporter: what tests/test_real_airflow.py
and the game day (tools/gameday/real_airflow.py) share.

- Airflow 3.3.2 in its own venv (tools/live_programs.py ``AIRFLOW``), AIRFLOW_HOME in a work
  directory, SQLite, ``[metrics] statsd_on`` to 127.0.0.1 with the prefix our mapping reads.
- Airflow CLI commands run through tests/airflow_live/airflow_with_stats.py: ``airflow`` with the
  core StatsD client set up as the scheduler sets it up (`airflow dags test` alone would send no
  ``dagrun.duration.*``).
- The DAGs of tests/airflow_live/dags: a pipeline that succeeds and one that fails in a TaskGroup task.
- prometheus/statsd_exporter as `make tools` builds it (e2e/build.py), listening on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from tools.live_programs import AIRFLOW, go_binary

ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "tests" / "airflow_live"
DAGS = LIVE / "dags"
PIPELINE, FAILING, SCHEDULED = "dataops_live_pipeline", "dataops_live_failing", "dataops_live_scheduled"
# The task of FAILING that raises (in TaskGroup "transform_group"), as the StatsD names carry it.
FAILING_TASK = "transform_group__load"
STATSD_PREFIX = "airflow"  # Airflow's default, set explicitly: our mapping matches "airflow.<name>"


def airflow_missing() -> Optional[str]:
    """Why the real Airflow cannot run here, or None."""
    if AIRFLOW.installed and os.access(AIRFLOW.bin("airflow"), os.X_OK):
        return None
    return f"Airflow {AIRFLOW.version} is not installed in {AIRFLOW.venv} (python -m tools.live_programs install --heavy)"


def statsd_exporter_binary() -> Optional[str]:
    """The statsd_exporter `make tools` built, or None."""
    path = go_binary("statsd_exporter")
    return str(path) if os.access(path, os.X_OK) else None


def statsd_exporter_args(binary: str, mapping_file: Path, udp_port: int, web_port: int) -> list[str]:
    """statsd_exporter v0.28's flags: our mapping, StatsD over UDP only, everything on 127.0.0.1."""
    return [
        binary,
        f"--statsd.mapping-config={mapping_file}",
        f"--statsd.listen-udp=127.0.0.1:{udp_port}",
        "--statsd.listen-tcp=",
        f"--web.listen-address=127.0.0.1:{web_port}",
    ]


def airflow_env(home: Path, statsd_port: int, base: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The environment of every Airflow command: ``base`` (default os.environ) without AIRFLOW*, plus ours."""
    source = dict(os.environ if base is None else base)
    env = {k: v for k, v in source.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__METRICS__STATSD_ON="True",
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(statsd_port),
        AIRFLOW__METRICS__STATSD_PREFIX=STATSD_PREFIX,
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        PATH=f"{AIRFLOW.venv / 'bin'}:{source.get('PATH', '')}",
    )
    return env


def migrate_command() -> list[str]:
    """`airflow db migrate`: the SQLite metadata database in AIRFLOW_HOME."""
    return [str(AIRFLOW.bin("airflow")), "db", "migrate"]


def airflow_command(*args: str) -> list[str]:
    """``airflow <args>`` with the core StatsD client the scheduler would set up (airflow_with_stats.py)."""
    return [str(AIRFLOW.python), str(LIVE / "airflow_with_stats.py"), *args]


def dags_test_args(dag_id: str, conf: Optional[dict] = None) -> list[str]:
    """`dags test` without a logical date: the run is now, and so its start_date (a past logical
    date would become the start_date, and the duration months long)."""
    return ["dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else [])]
