"""Settings of alert routing: Alertmanager timings, receivers' credentials, runbook links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.parsers import duration_between, http_url, parse_bool, slack_channel, url

from core.settings import PROJECT, Reader, setting

# Alertmanager posts to the webhook; anything but an https URL fails only when an alert fires.
SLACK_WEBHOOK = url("https", example="https://hooks.slack.com/services/...")
HEARTBEAT_URL = url("https", example="https://hc-ping.com/<uuid>")


def _routing_key(value: str) -> str:
    # PagerDuty Events API v2 integration keys are 32 characters; a URL or a note pasted here pages no one.
    if not isinstance(value, str) or not value.strip() or any(c.isspace() or c in "/:" for c in value):
        raise ValueError("must be the 32-character Events API v2 integration key (no spaces, no URL)")
    return value


SETTINGS = (
    setting("alertGroupWait", "string", "Alertmanager group_wait: delay before the first notification of a group (enters MTTD).", duration_between("1s", "5m", "it delays every first page; the MTTD budget is 5m"), "30s"),
    setting("alertGroupInterval", "string", "Alertmanager group_interval.", duration_between("10s", "6h"), "5m"),
    setting("alertRepeatInterval", "string", "Alertmanager repeat_interval.", duration_between("5m", "7d"), "4h"),
    setting("alertSlackChannelHigh", "string", "Slack channel for severity=high.", slack_channel, "#dataops-ops"),
    setting("alertSlackChannelMedium", "string", "Slack channel for severity=medium (lower noise).", slack_channel, "#dataops-alerts"),
    setting("pagerdutyRoutingKey", "string", "PagerDuty Events API v2 routing key for severity=critical. Required in prod.", _routing_key, optional=True, secret=True, example="<routing-key>"),
    setting("slackWebhookUrl", "string", "Slack incoming webhook URL for high/medium alerts. Required in prod.", SLACK_WEBHOOK, optional=True, secret=True, example="<webhook-url>"),
    setting(
        "deadMansSwitchUrl",
        "string",
        "Heartbeat URL (healthchecks.io, Cronitor, Opsgenie heartbeat ping, ...) the always-firing Watchdog alert is POSTed to every minute; the service pages when the posts stop. Required in prod unless deadMansSwitchDisabled.",
        HEARTBEAT_URL,
        optional=True,
        secret=True,
        example="<heartbeat-url>",
    ),
    setting("deadMansSwitchDisabled", "boolean", "Run prod without a dead-man's switch (a dead Alertmanager then pages nobody). Say why in the stack file.", parse_bool, False),
    setting(
        "runbookBaseUrl",
        "string",
        "Where the runbooks (docs/runbooks/<alert>.md) are published: every alert's runbook_url is <runbookBaseUrl>/<alertname>.md.",
        http_url,
        "https://github.com/dataops/dataops-monitoring/blob/main/docs/runbooks",
    ),
)



#: What a stack loses without each notification credential: the Alertmanager receiver gets no
#: integration and its route delivers to "null" (components/alerting/alertmanager_config.py).
WITHOUT_CREDENTIAL = {
    "pagerdutyRoutingKey": "critical alerts page nobody (the critical route keeps only its Slack copy, or goes to null without Slack)",
    "slackWebhookUrl": "high and medium alerts go to the null receiver (and critical ones have no Slack copy)",
    "deadMansSwitchUrl": "the Watchdog heartbeat reaches no dead-man's switch: a dead Alertmanager goes unnoticed",
}

@dataclass(frozen=True)
class RoutingSettings:
    group_wait: str
    group_interval: str
    repeat_interval: str
    slack_channel_high: str
    slack_channel_medium: str
    pagerduty_routing_key: Optional[pulumi.Output]
    slack_webhook_url: Optional[pulumi.Output]
    runbook_base_url: str = ""
    # Secret heartbeat URL for the Watchdog (dead-man's switch); None: the heartbeat receiver stays empty.
    dead_mans_switch_url: Optional[pulumi.Output] = None


def read(reader: Reader) -> RoutingSettings:
    g = reader.get
    prod = reader.is_prod
    routing = RoutingSettings(
        group_wait=g("alertGroupWait"),
        group_interval=g("alertGroupInterval"),
        repeat_interval=g("alertRepeatInterval"),
        slack_channel_high=g("alertSlackChannelHigh"),
        slack_channel_medium=g("alertSlackChannelMedium"),
        pagerduty_routing_key=reader.secret("pagerdutyRoutingKey", prod, "prod pages the on-call through PagerDuty"),
        slack_webhook_url=reader.secret("slackWebhookUrl", prod, "prod sends high and medium alerts to Slack"),
        runbook_base_url=g("runbookBaseUrl"),
        dead_mans_switch_url=_dead_mans_switch(reader),
    )
    # Alertmanager rounds repeat_interval up to a multiple of group_interval, and forgets a
    # notification (so repeats it early) once it is older than its data retention.
    reader.duration_at_least("alertRepeatInterval", "alertGroupInterval", "Alertmanager repeats at most once per group_interval", reader.text("alertGroupInterval"))
    repeat, retention = reader.seconds("alertRepeatInterval"), reader.seconds("alertmanagerRetention")
    if repeat is not None and retention is not None and repeat > retention:
        reader.problem(
            f"{PROJECT}:alertRepeatInterval = {reader.text('alertRepeatInterval')!r} is longer than {PROJECT}:alertmanagerRetention = "
            f"{reader.text('alertmanagerRetention')!r}: Alertmanager forgets the notification before it is due and repeats it early. "
            f"Fix: pulumi config set {PROJECT}:alertmanagerRetention {reader.text('alertRepeatInterval')}"
        )
    return routing


def _dead_mans_switch(reader: Reader) -> Optional[pulumi.Output]:
    """The heartbeat URL; prod must have one unless it opts out explicitly (and not both)."""
    disabled = bool(reader.get("deadMansSwitchDisabled"))
    if disabled and reader.raw("deadMansSwitchUrl") is not None:
        reader.problem(
            f"{PROJECT}:deadMansSwitchDisabled = true but {PROJECT}:deadMansSwitchUrl is set: keep one. "
            f"Fix: pulumi config rm {PROJECT}:deadMansSwitchDisabled"
        )
    required = reader.is_prod and not disabled
    return reader.secret(
        "deadMansSwitchUrl",
        required,
        "prod must notice a dead Alertmanager; or opt out with pulumi config set "
        f"{PROJECT}:deadMansSwitchDisabled true",
    )
