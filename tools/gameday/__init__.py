"""Game day: break emulated workloads under a real Prometheus 3 + Alertmanager with production timings.

    make gameday                       # python -m tools.gameday --stack prod
    python -m tools.gameday --skip-dashboards --max-minutes 8

What it starts (all on 127.0.0.1, free ports, stopped by PID at the end, also on Ctrl-C):

* stand-in receivers: a PagerDuty Events v2 endpoint, a Slack incoming webhook and a
  dead-man's-switch webhook, each a small HTTP server recording every notification;
* emulated targets: one HTTP server serving, per target, the catalogued metric names
  (docs/metrics/*.yaml; anything else is refused) in Prometheus text format with healthy
  values, under the job label, target labels, scrape interval and metric keep-list of the
  ServiceMonitor/PodMonitor/Probe the stack renders for it;
* Prometheus 3 (.tools/bin/prometheus) with the rule groups of every PrometheusRule the
  prod stack renders (the program run under the mock engine, as tests/test_deployed_rules.py
  does), the stack's external labels, scrape and evaluation intervals, and 6 hours of
  healthy history backfilled (raw samples, then the recording rules level by level with
  promtool) so that 1h/6h SLO windows hold what a long-running Prometheus would hold;
* Alertmanager (.tools/bin/alertmanager) with the alertmanager-dataops Secret's
  alertmanager.yaml from the same run, unchanged except that the credential files it points
  at live in a temporary folder (random routing key; the Slack "URL" and any other file point
  at the stand-ins) and the PagerDuty API URL is the stand-in's.

Then one scenario per critical alert of the rendered rules, all at the same t0: the scenario
breaks its emulated target (values that make the condition true, or the target stops
answering for up-based alerts), the script waits for the notification at the PagerDuty
stand-in (critical -> PagerDuty), restores the target and waits for the resolve
notification. Before t0, with every target healthy, it runs every panel query and template
variable query of the seven dashboards and reports the empty ones.

Exit status 1 when a critical alert has no scenario, is not notified within 5 minutes, or
reaches another receiver than PagerDuty; the table says which.
"""

from __future__ import annotations

from tools.gameday.common import BIN, BUDGET_S, HISTORY_S, MONITOR_TYPES, ROOT, RULE_CR, fmt, log, seconds  # noqa: F401
from tools.gameday.rendered import CriticalAlert, Rendered, _unwrap, critical_alerts, render, selects  # noqa: F401
from tools.gameday.targets import Series, Target, TargetServer, Value, _escape, _labels_text, _snake, apply_monitor  # noqa: F401
from tools.gameday.runtime import prom_api, Notification, Processes, StandIn, binary, free_port, http_get, run_tool, stand_ins, with_package_share  # noqa: F401
from tools.gameday.configs import alertmanager_config, backfill, history_gaps, prometheus_config, range_read_recordings, recording_levels, scrape_configs, write_openmetrics, write_rule_files  # noqa: F401
from tools.gameday.world import DAG_BUCKETS, ICEBERG_TABLES, NODES, PODS, SPARK_NS, World, _freshness_tables, _pod_ip, build_world, uncatalogued  # noqa: F401
from tools.gameday.scenarios import Expect, Result, Scenario, _pd_matches, _slack_firing, _slack_matches, _slo_fastest, build_scenarios, format_table, update_results  # noqa: F401
from tools.gameday.dashboards import FAILURE_ONLY, PanelCheck, _LABEL_VALUES, dashboard_checks, dashboards_ok, format_dashboards, strip_external_matchers, substitute, variable_values, why_empty  # noqa: F401
from tools.gameday.run import Stack, WATCHDOG_GROUP, check_dashboards, main, run_scenarios, start_stack, wait_for_scrapes, wait_rule_groups  # noqa: F401
