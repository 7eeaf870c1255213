"""``airflow <args>`` with Airflow's core StatsD client set up as its scheduler sets it up.

Run by the Airflow venv's python (tests/test_real_airflow.py). In Airflow 3.3.2 the core ``stats``
singleton (``airflow._shared.observability.metrics.stats``) is initialised only by the long-running
components (SchedulerJobRunner._execute, the API server, the DAG processor, the triggerer,
executors); `airflow dags test` initialises none of them, so the DagRun.update_state it runs in
this process sends ``dagrun.duration.<state>.<dag_id>`` to no one (the task runner initialises its
own client: task metrics are sent either way). This does what SchedulerJobRunner._execute does
before its loop, with the same factory and settings, then runs the CLI unchanged.
"""

import sys

from airflow._shared.observability.metrics import stats
from airflow.configuration import conf
from airflow.observability.metrics import stats_utils

stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=conf.getboolean("metrics", "legacy_names_on"))

from airflow.__main__ import main  # noqa: E402 - after the stats client, as in the scheduler

sys.exit(main())
