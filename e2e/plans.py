"""What the e2e does with each stack: its test secrets and the settings change it makes and checks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from e2e import checks


@dataclass(frozen=True)
class StackPlan:
    """What the e2e does with one stack: its test secrets and its settings change."""

    name: str
    secrets: tuple[str, ...]
    change_key: str
    change_value: str
    expect_changed: frozenset[tuple[str, str]]  # (type, name) the change must update, and nothing else
    check_change: Callable[[checks.Kube], bool]
    protected: bool


def random_secret(key: str) -> str:
    if key == "slackWebhookUrl":
        return f"https://hooks.slack.invalid/services/e2e-{secrets.token_hex(8)}"
    if key == "deadMansSwitchUrl":
        return f"https://heartbeat.invalid/ping/e2e-{secrets.token_hex(8)}"
    return f"e2e-{key}-{secrets.token_hex(12)}"


THANOS_KEYS = ("thanosAccessKey", "thanosSecretKey")
PLANS = {
    "dev": StackPlan(
        "dev", (), "prometheusRetention", "3d",
        frozenset({("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack")}),
        lambda kube: kube.get(f"/apis/monitoring.coreos.com/v1/namespaces/{checks.NAMESPACE}/prometheuses/{checks.PROMETHEUS}")["spec"]["retention"] == "3d",
        protected=False,
    ),
    "staging": StackPlan(
        "staging", THANOS_KEYS, "thanosRetentionRaw", "10d",
        frozenset({("kubernetes:apps/v1:StatefulSet", "thanos-compact")}),
        lambda kube: "--retention.resolution-raw=10d" in checks.statefulset_args(kube, "thanos-compact"),
        protected=False,
    ),
    "prod": StackPlan(
        "prod", ("pagerdutyRoutingKey", "slackWebhookUrl", "deadMansSwitchUrl", *THANOS_KEYS), "thanosRetentionRaw", "20d",
        frozenset({("kubernetes:apps/v1:StatefulSet", "thanos-compact")}),
        lambda kube: "--retention.resolution-raw=20d" in checks.statefulset_args(kube, "thanos-compact"),
        protected=True,
    ),
}
