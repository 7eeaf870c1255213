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
* real programs where they are built (tools/gameday/real.py): Thanos Query, the sidecars (each
  in front of a small Prometheus replica) and the Store Gateways as real Thanos processes,
  scraped under the same labels as the emulated targets they replace; and where Airflow is
  installed, a real statsd_exporter with the stack's mapping as a second Airflow exporter pod,
  fed by a real Airflow whose DAG runs fail at t0 (tools/gameday/real_airflow.py); the output
  lists which targets are real and which emulated;
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
breaks its target (values that make the condition true, or the target stops answering for
up-based alerts; a real program is stopped by PID), the script waits for the notification at
the PagerDuty stand-in (critical -> PagerDuty), restores the target (a real program is
started again) and waits for the resolve notification. Before t0, with every target healthy,
it runs every panel query and template variable query of the seven dashboards and reports the
empty ones.

Extra, non-paging checks (a play's ``extra``: AirflowDagRunFailed, severity high) are measured at
the Slack channel their severity routes to, within the same 5 minutes.

Exit status 1 when a critical alert has no scenario, is not notified within 5 minutes, or
reaches another receiver than PagerDuty (an extra check: another receiver than Slack); the
table says which.
"""

from __future__ import annotations

# The entry points the tests and `python -m tools.gameday` use; everything else is imported
# from its own module (common, rendered, targets, runtime, configs, world, scenarios, results,
# dashboards, run).
from tools.gameday.configs import alertmanager_config
from tools.gameday.dashboards import strip_external_matchers
from tools.gameday.rendered import Rendered, critical_alerts, render
from tools.gameday.run import main, run_scenarios, start_stack
from tools.gameday.runtime import Processes, stand_ins
from tools.gameday.scenarios import build_scenarios
from tools.gameday.targets import Value, apply_monitor
from tools.gameday.world import build_world, uncatalogued

__all__ = [
    "Processes",
    "Rendered",
    "Value",
    "alertmanager_config",
    "apply_monitor",
    "build_scenarios",
    "build_world",
    "critical_alerts",
    "main",
    "render",
    "run_scenarios",
    "stand_ins",
    "start_stack",
    "strip_external_matchers",
    "uncatalogued",
]
