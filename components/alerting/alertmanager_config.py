"""Alertmanager configuration as a pure function of the routing settings.

``alertmanager_config(routing, cluster_name, environment)`` returns the dict that becomes
``alertmanager.yaml`` (``render_alertmanager_yaml`` dumps it deterministically). It never
contains a credential: PagerDuty and Slack read theirs from files
(``routing_key_file`` / ``api_url_file``) that Alertmanager finds under
``/etc/alertmanager/secrets/<secret>/<key>``, where the operator mounts every Secret
listed in ``alertmanagerSpec.secrets`` (see ``alertmanager_wiring()``).

Route tree (the same in every environment, so ``amtool config routes test`` checks it):

    alertname=Watchdog      -> heartbeat   (dead-man's switch, see below)
    severity=none           -> null        (kube-prometheus-stack's InfoInhibitor)
    severity=critical       -> pagerduty-critical (PagerDuty Events API v2 + Slack high channel)
    severity=high           -> slack-high  (#dataops-ops)
    severity=medium         -> slack-medium (lower-noise channel, longer repeat)
    anything else           -> default     (the chart's own warning/info rules; medium channel)

A receiver with no integration (no credential configured, e.g. staging) is replaced by
``null`` wherever it is referenced: the tree, matchers and timing stay the same.

Dead-man's switch: the chart's ``Watchdog`` alert always fires. With ``deadMansSwitchUrl``
set, the ``heartbeat`` receiver POSTs it to that URL every minute (``webhook_configs`` with
``url_file``: the URL is a credential, read from the credentials Secret like PagerDuty's
key; ``url_file`` exists since Alertmanager 0.26). A heartbeat service (healthchecks.io,
Cronitor, an Opsgenie heartbeat's ping URL with ``?apiKey=``) pages when the posts stop:
Prometheus, Alertmanager or the network between them and the world is down. Prod requires
it unless ``deadMansSwitchDisabled`` is true; without it the receiver stays empty.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

from components.alerting.settings import RoutingSettings
from core.parsers import parse_duration

CONFIG_SECRET_NAME = "alertmanager-dataops"
CONFIG_SECRET_KEY = "alertmanager.yaml"
CREDENTIALS_SECRET_NAME = "alertmanager-dataops-credentials"
PAGERDUTY_KEY = "pagerduty-routing-key"
SLACK_KEY = "slack-webhook-url"
DEAD_MANS_SWITCH_KEY = "dead-mans-switch-url"
# Where the operator mounts each Secret of alertmanagerSpec.secrets.
SECRETS_MOUNT_DIR = "/etc/alertmanager/secrets"

NULL = "null"
HEARTBEAT = "heartbeat"
CRITICAL = "pagerduty-critical"
HIGH = "slack-high"
MEDIUM = "slack-medium"
DEFAULT = "default"

GROUP_BY = ["alertname", "cluster", "namespace"]
# Critical repeats at most hourly while unresolved; medium at most twice a day.
CRITICAL_REPEAT_MAX = "1h"
# A critical alert joining a group that has already paged (a second Portal URL down, say)
# waits group_interval, not group_wait: keep that inside the 5-minute MTTD target.
CRITICAL_GROUP_INTERVAL_MAX = "30s"
MEDIUM_REPEAT_MIN = "12h"
# The Watchdog is re-sent this often: the heartbeat service's period (with some grace) must be
# longer, e.g. healthchecks.io period 1 min + grace 5 min.
HEARTBEAT_REPEAT = "1m"

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}, {{ .CommonLabels.cluster }})"
)
SLACK_TEXT = (
    "{{ range .Alerts }}"
    '{{ if eq .Status "firing" }}:rotating_light: *발생*{{ else }}:white_check_mark: *해결*{{ end }} '
    "{{ .Annotations.summary }}\n"
    "*설명:* {{ .Annotations.description }}\n"
    "*심각도:* `{{ .Labels.severity }}`  *구성요소:* `{{ .Labels.component }}`"
    "{{ if .Labels.namespace }}  *네임스페이스:* `{{ .Labels.namespace }}`{{ end }}\n"
    "*런북:* {{ .Annotations.runbook_url }}\n"
    "*대시보드:* {{ .Annotations.dashboard_url }}\n"
    "{{ end }}"
)


def credential_path(key: str, secrets_dir: str = SECRETS_MOUNT_DIR) -> str:
    return f"{secrets_dir}/{CREDENTIALS_SECRET_NAME}/{key}"


def _shorter(a: str, b: str) -> str:
    return a if parse_duration(a) <= parse_duration(b) else b


def _longer(a: str, b: str) -> str:
    return a if parse_duration(a) >= parse_duration(b) else b


def _slack(channel: str, secrets_dir: str, environment: str) -> dict[str, Any]:
    return {
        "api_url_file": credential_path(SLACK_KEY, secrets_dir),
        "channel": channel,
        "send_resolved": True,
        "title": f"[{environment}] " + SLACK_TITLE,
        "text": SLACK_TEXT,
    }


def _pagerduty(cluster_name: str, environment: str, secrets_dir: str) -> dict[str, Any]:
    return {
        "routing_key_file": credential_path(PAGERDUTY_KEY, secrets_dir),
        "send_resolved": True,
        "severity": "critical",
        "client": f"dataops-monitoring ({environment})",
        "description": "[{{ .CommonLabels.cluster }}] {{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
        "group": cluster_name,
        "component": "{{ .CommonLabels.component }}",
        "details": {
            "firing": "{{ .Alerts.Firing | len }}",
            "description": "{{ .CommonAnnotations.description }}",
            "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
            "dashboard_url": "{{ .CommonAnnotations.dashboard_url }}",
        },
    }


def alertmanager_config(
    routing: RoutingSettings,
    cluster_name: str,
    environment: str,
    secrets_dir: str = SECRETS_MOUNT_DIR,
    has_pagerduty: Optional[bool] = None,
    has_slack: Optional[bool] = None,
    has_dead_mans_switch: Optional[bool] = None,
) -> dict[str, Any]:
    """The Alertmanager config for these settings. ``has_*`` default to "the credential is configured"."""
    pagerduty = routing.pagerduty_routing_key is not None if has_pagerduty is None else has_pagerduty
    slack = routing.slack_webhook_url is not None if has_slack is None else has_slack
    heartbeat = routing.dead_mans_switch_url is not None if has_dead_mans_switch is None else has_dead_mans_switch

    integrations: dict[str, dict[str, list]] = {
        HEARTBEAT: {},
        CRITICAL: {},
        HIGH: {},
        MEDIUM: {},
        DEFAULT: {},
    }
    if heartbeat:
        # The Watchdog never resolves; one alert per post, no resolved notifications.
        integrations[HEARTBEAT]["webhook_configs"] = [
            {"url_file": credential_path(DEAD_MANS_SWITCH_KEY, secrets_dir), "send_resolved": False, "max_alerts": 1}
        ]
    if pagerduty:
        integrations[CRITICAL]["pagerduty_configs"] = [_pagerduty(cluster_name, environment, secrets_dir)]
    if slack:
        # Critical also lands in the ops channel, so the team sees what the on-call was paged for.
        integrations[CRITICAL]["slack_configs"] = [_slack(routing.slack_channel_high, secrets_dir, environment)]
        integrations[HIGH]["slack_configs"] = [_slack(routing.slack_channel_high, secrets_dir, environment)]
        integrations[MEDIUM]["slack_configs"] = [_slack(routing.slack_channel_medium, secrets_dir, environment)]
        integrations[DEFAULT]["slack_configs"] = [_slack(routing.slack_channel_medium, secrets_dir, environment)]

    def receiver(name: str) -> str:
        # The heartbeat receiver always exists (empty until a dead-man's switch is hooked in).
        return name if name == HEARTBEAT or integrations.get(name) else NULL

    routes = [
        {
            # Before the severity routes: the chart's Watchdog carries severity=none.
            "matchers": ['alertname="Watchdog"'],
            "receiver": receiver(HEARTBEAT),
            "group_wait": "0s",
            "group_interval": HEARTBEAT_REPEAT,
            "repeat_interval": HEARTBEAT_REPEAT,
        },
        {"matchers": ['severity="none"'], "receiver": NULL},
        {
            "matchers": ['severity="critical"'],
            "receiver": receiver(CRITICAL),
            "group_interval": _shorter(routing.group_interval, CRITICAL_GROUP_INTERVAL_MAX),
            "repeat_interval": _shorter(routing.repeat_interval, CRITICAL_REPEAT_MAX),
        },
        {"matchers": ['severity="high"'], "receiver": receiver(HIGH)},
        {
            "matchers": ['severity="medium"'],
            "receiver": receiver(MEDIUM),
            "repeat_interval": _longer(routing.repeat_interval, MEDIUM_REPEAT_MIN),
        },
    ]
    receivers = [{"name": NULL}] + [
        {"name": name, **configs} for name, configs in integrations.items() if configs or name == HEARTBEAT
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": receiver(DEFAULT),
            "group_by": list(GROUP_BY),
            "group_wait": routing.group_wait,
            "group_interval": routing.group_interval,
            "repeat_interval": routing.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {
                # A page silences the same problem's lower-severity alerts (and the chart's warnings).
                # "slo" keeps one SLO's page from hiding another SLO's ticket (absent on both = equal).
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"high|medium|warning"'],
                "equal": ["alertname", "cluster", "slo"],
            },
            {
                # kube-prometheus-stack's InfoInhibitor: info alerts only matter next to a real alert.
                "source_matchers": ['alertname="InfoInhibitor"'],
                "target_matchers": ['severity="info"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": receivers,
    }


def render_alertmanager_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=True, allow_unicode=True, default_flow_style=False)
