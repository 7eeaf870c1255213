"""The DAGs tests/test_real_airflow.py runs with `airflow dags test` in a real Airflow 3.

- ``dataops_live_pipeline``: succeeds; ``dag_run.conf["sleep_s"]`` makes a run slow.
- ``dataops_live_failing``: fails in a TaskGroup task (task id ``transform_group.load``), no retries.
- ``dataops_live_scheduled``: hourly, for a bounded `airflow scheduler` run; its tasks wait for pool slots.
"""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import DAG, TaskGroup, task

START = datetime(2026, 1, 1)

with DAG("dataops_live_pipeline", schedule=None, start_date=START, catchup=False, default_args={"retries": 0}):

    @task
    def extract(dag_run=None):
        time.sleep(float((dag_run.conf or {}).get("sleep_s", 0)))

    extract()

with DAG("dataops_live_failing", schedule=None, start_date=START, catchup=False, default_args={"retries": 0}):

    @task
    def extract():
        return 1

    value = extract()
    with TaskGroup("transform_group"):

        @task
        def load(value):
            raise RuntimeError(f"dataops live test: this task fails on purpose ({value})")

        load(value)

# For the bounded scheduler run: the scheduler creates and starts its latest hourly run itself
# (dagrun.schedule_delay). Neither task can be queued: one needs two slots of a one-slot pool,
# the other waits for a pool with no slot (the test creates both pools).
with DAG("dataops_live_scheduled", schedule="@hourly", start_date=START, catchup=False, is_paused_upon_creation=False, default_args={"retries": 0}):

    @task(pool="dataops_live_narrow", pool_slots=2)
    def too_wide():
        return 1

    @task(pool="dataops_live_full")
    def waits():
        return 1

    too_wide()
    waits()
