"""What the stack renders: rule groups, monitors, Alertmanager config, critical alerts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional


from components.prometheus_stack import DASHBOARD_LABEL
from tools.gameday.common import MONITOR_TYPES, RULE_CR


# --------------------------------------------------------------------------------------------
# What the prod stack renders
# --------------------------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    from tools.mock_engine import Secret

    if isinstance(value, Secret):
        return _unwrap(value.value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


@dataclass
class Rendered:
    stack: str
    rule_groups: dict[str, list[dict]]  # PrometheusRule name -> spec.groups
    alertmanager_yaml: str
    monitors: dict[str, tuple[str, dict]]  # monitor name -> (kind, spec)
    scrape_interval: str
    evaluation_interval: str
    external_labels: dict[str, str]
    # PrometheusRule name -> who evaluates it in the cluster (prometheus / thanos-ruler / nobody)
    evaluators: dict[str, str] = field(default_factory=dict)
    # The Grafana dashboards the stack deploys (its labelled ConfigMaps), in file-name order.
    dashboards: list[dict] = field(default_factory=list)
    # Container args of the Thanos Deployments/StatefulSets the stack renders ("query", "store").
    thanos_args: dict[str, list[str]] = field(default_factory=dict)
    # kube-state-metrics' custom-resource-state config as the chart values render it (None: off).
    ksm_custom_resource_config: Optional[dict] = None
    # The statsd_exporter mapping of the airflow-statsd-mapping ConfigMap ("" when not rendered).
    statsd_mapping: str = ""

    def rules(self) -> Iterable[tuple[str, dict, dict]]:
        for cr, groups in self.rule_groups.items():
            for group in groups:
                for rule in group.get("rules") or []:
                    yield cr, group, rule


def selects(selector: Optional[dict], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against labels; None selects nothing."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def render(stack: str = "prod") -> Rendered:
    """Run the program under the mock engine (random secrets) and keep what Prometheus/Alertmanager get."""
    from tests.conftest import PROD_SECRETS, random_secret  # the secrets a prod preview needs, random values
    from tools.mock_engine import PROJECT, run_program, stack_config

    overrides = {f"{PROJECT}:{k}": random_secret(k) for k in PROD_SECRETS}
    config, secret_keys = stack_config(stack, placeholder_secrets=False, overrides=overrides)
    return from_run(stack, run_program(stack, config, secret_keys))


def from_run(stack: str, run: Any) -> Rendered:
    """What Prometheus/Alertmanager get from a mock-engine run of ``stack`` (a tools.mock_engine.ProgramRun)."""
    rule_crs = run.by_type(RULE_CR)
    rule_groups = {r.name: _unwrap(r.inputs["spec"]["groups"]) for r in rule_crs}
    am_secret = run.one("kubernetes:core/v1:Secret", "alertmanager-dataops")
    am_yaml = _unwrap(am_secret.inputs["stringData"])["alertmanager.yaml"]
    monitors = {}
    for type_token, kind in MONITOR_TYPES.items():
        for r in run.by_type(type_token):
            monitors[r.name] = (kind, _unwrap(r.inputs["spec"]))
    release = next(r for r in run.by_type("kubernetes:helm.sh/v3:Release"))
    values = _unwrap(release.inputs["values"])
    spec = values["prometheus"]["prometheusSpec"]
    custom_resources = (values.get("kube-state-metrics") or {}).get("customResourceState") or {}
    rulers = [_unwrap(r.inputs.get("spec") or {}) for r in run.registrations if r.type.endswith(":ThanosRuler")]
    evaluators = {}
    for r in rule_crs:
        labels = _unwrap(r.inputs.get("metadata") or {}).get("labels") or {}
        if selects(spec.get("ruleSelector"), labels):
            evaluators[r.name] = "prometheus"
        elif any(selects(ruler.get("ruleSelector"), labels) for ruler in rulers):
            evaluators[r.name] = "thanos-ruler"
        else:
            evaluators[r.name] = "nobody"
    dashboards = []
    for cm in sorted(run.by_type("kubernetes:core/v1:ConfigMap"), key=lambda r: r.name):
        metadata = _unwrap(cm.inputs.get("metadata") or {})
        if (metadata.get("labels") or {}).get(DASHBOARD_LABEL) == "1":
            dashboards += [json.loads(text) for _, text in sorted(_unwrap(cm.inputs["data"]).items())]
    if not dashboards:
        raise RuntimeError(f"no dashboard ConfigMap (label {DASHBOARD_LABEL}=1) in the {stack} render")
    thanos_args = {}
    for type_token, name, part in (("kubernetes:apps/v1:Deployment", "thanos-query", "query"),
                                   ("kubernetes:apps/v1:StatefulSet", "thanos-store", "store")):
        for r in run.by_type(type_token):
            if r.name == name:
                containers = _unwrap(r.inputs["spec"])["template"]["spec"]["containers"]
                thanos_args[part] = list(next(c for c in containers if c.get("args"))["args"])
    mapping = next((_unwrap(cm.inputs["data"]) for cm in run.by_type("kubernetes:core/v1:ConfigMap") if cm.name == "airflow-statsd-mapping"), {})
    return Rendered(
        stack=stack,
        rule_groups=rule_groups,
        alertmanager_yaml=am_yaml,
        monitors=monitors,
        scrape_interval=spec.get("scrapeInterval") or "30s",
        evaluation_interval=spec.get("evaluationInterval") or "30s",
        external_labels=dict(spec.get("externalLabels") or {}),
        evaluators=evaluators,
        dashboards=dashboards,
        thanos_args=thanos_args,
        ksm_custom_resource_config=custom_resources.get("config") if custom_resources.get("enabled") else None,
        statsd_mapping=next(iter(mapping.values()), ""),
    )


@dataclass(frozen=True)
class CriticalAlert:
    alertname: str
    labels: tuple[tuple[str, str], ...]  # the rule's static labels besides severity/component
    rule_cr: str
    group: str
    expr: str
    for_: str

    @property
    def key(self) -> str:
        return self.alertname + "".join(f" {k}={v}" for k, v in self.labels)


def critical_alerts(rendered: Rendered, severity: str = "critical") -> list[CriticalAlert]:
    """The alerts of ``severity`` (the paging ones by default) the stack deploys."""
    out = []
    for cr, group, rule in rendered.rules():
        labels = rule.get("labels") or {}
        if "alert" in rule and labels.get("severity") == severity:
            extra = tuple(sorted((k, v) for k, v in labels.items() if k not in ("severity", "component")))
            out.append(CriticalAlert(rule["alert"], extra, cr, group["name"], rule["expr"], rule.get("for") or "0s"))
    return out


