"""Settings of alert routing: Alertmanager timings, receivers' credentials, runbook links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from core.settings import Reader, duration, http_url, setting, text

SETTINGS = (
    setting("alertGroupWait", "string", "Alertmanager group_wait: delay before the first notification of a group (enters MTTD).", duration, "30s"),
    setting("alertGroupInterval", "string", "Alertmanager group_interval.", duration, "5m"),
    setting("alertRepeatInterval", "string", "Alertmanager repeat_interval.", duration, "4h"),
    setting("alertSlackChannelHigh", "string", "Slack channel for severity=high.", text, "#dataops-ops"),
    setting("alertSlackChannelMedium", "string", "Slack channel for severity=medium (lower noise).", text, "#dataops-alerts"),
    setting("pagerdutyRoutingKey", "string", "PagerDuty Events API v2 routing key for severity=critical. Required in prod.", text, optional=True, secret=True, example="<routing-key>"),
    setting("slackWebhookUrl", "string", "Slack incoming webhook URL for high/medium alerts. Required in prod.", text, optional=True, secret=True, example="<webhook-url>"),
    setting(
        "runbookBaseUrl",
        "string",
        "Where the runbooks (docs/runbooks/<alert>.md) are published: every alert's runbook_url is <runbookBaseUrl>/<alertname>.md.",
        http_url,
        "https://github.com/dataops/dataops-monitoring/blob/main/docs/runbooks",
    ),
)


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


def read(reader: Reader) -> RoutingSettings:
    g = reader.get
    prod = reader.is_prod
    return RoutingSettings(
        group_wait=g("alertGroupWait"),
        group_interval=g("alertGroupInterval"),
        repeat_interval=g("alertRepeatInterval"),
        slack_channel_high=g("alertSlackChannelHigh"),
        slack_channel_medium=g("alertSlackChannelMedium"),
        pagerduty_routing_key=reader.secret("pagerdutyRoutingKey", prod, "prod pages the on-call through PagerDuty"),
        slack_webhook_url=reader.secret("slackWebhookUrl", prod, "prod sends high and medium alerts to Slack"),
        runbook_base_url=g("runbookBaseUrl"),
    )
