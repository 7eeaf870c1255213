"""kubePrometheusStackValues: the team's own chart values, merged over ours last.

The chart has hundreds of values and the settings cover the ones this program depends on; the
rest (Grafana SSO, node-exporter and kube-state-metrics tuning, default-rule groups, ...) is
reachable through this one object setting. Merge order: the values ``chart_values`` computes
(ours, then what other domains contribute), then these overrides.

Keys the program owns are protected: every leaf of the values it computes for a stand-in
stack with every optional part on (Thanos sidecar with upload and remote write, Thanos
datasource, the Alertmanager config Secret, Grafana's Ingress, every layer's contribution).
The list is derived from the code that builds the values, so a new value is protected the day
it is added. Setting an owned key (or a key below one, or an object over one) is a settings
problem naming the key, the value and the setting that controls it (``OWNING_SETTINGS``) or,
for values no setting changes, that the program sets it.

Credentials never go in here: a secret-marked object is refused (the chart would store it in
its release values), and the policy pack's ``no-plaintext-credentials`` rule flags plain
credential-looking keys in Helm values, these included. Charts take credentials from Secrets
(``grafana.envFromSecret``, ``grafana.admin.existingSecret``, ...).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterator, Mapping

import pulumi
from pulumi.runtime import config as runtime_config

from core.settings import PROJECT, Reader

KEY = "kubePrometheusStackValues"
Path = tuple[str, ...]

# Which setting controls an owned value: the longest matching path prefix wins. A prefix that
# matches no owned value is a stale entry (tests/test_escape_hatches.py checks there is none).
OWNING_SETTINGS: dict[str, str] = {
    "prometheus.prometheusSpec.replicas": "prometheusReplicas",
    "prometheus.prometheusSpec.podAntiAffinity": "prometheusAntiAffinity",
    "prometheus.prometheusSpec.retention": "prometheusRetention",
    "prometheus.prometheusSpec.scrapeInterval": "prometheusScrapeInterval",
    "prometheus.prometheusSpec.evaluationInterval": "prometheusEvaluationInterval",
    "prometheus.prometheusSpec.resources.requests.cpu": "prometheusCpuRequest",
    "prometheus.prometheusSpec.resources.limits.cpu": "prometheusCpuLimit",
    "prometheus.prometheusSpec.resources.requests.memory": "prometheusMemoryRequest",
    "prometheus.prometheusSpec.resources.limits.memory": "prometheusMemoryLimit",
    "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage": "prometheusStorageSize",
    "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName": "storageClass",
    "prometheus.prometheusSpec.externalLabels.cluster": "clusterName",
    "prometheus.prometheusSpec.externalLabels.environment": "environment",
    "prometheus.prometheusSpec.thanos": "thanosEnabled, thanosImage",
    "prometheus.prometheusSpec.remoteWrite": "thanosReceiveEnabled",
    "prometheus.prometheusSpec.additionalScrapeConfigsSecret": "bitbucketMetricsUrl",
    "prometheus.thanosService": "thanosEnabled",
    "prometheus.thanosServiceMonitor": "thanosEnabled",
    "prometheus.serviceAccount.annotations": "thanosServiceAccountAnnotations",
    "alertmanager.alertmanagerSpec.replicas": "alertmanagerReplicas",
    "alertmanager.alertmanagerSpec.podAntiAffinity": "alertmanagerReplicas",
    "alertmanager.alertmanagerSpec.retention": "alertmanagerRetention",
    "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.resources.requests.storage": "alertmanagerStorageSize",
    "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.storageClassName": "storageClass",
    "alertmanager.alertmanagerSpec.useExistingSecret": "the alerting settings (routes and receivers)",
    "alertmanager.alertmanagerSpec.configSecret": "the alerting settings (routes and receivers)",
    "alertmanager.alertmanagerSpec.secrets": "the alerting settings (routes and receivers)",
    "grafana.grafana.ini.server.root_url": "grafanaUrl",
    "grafana.grafana.ini.server.serve_from_sub_path": "grafanaUrl",
    "grafana.admin": "grafanaAdminUser, grafanaAdminPassword",
    "grafana.persistence.size": "grafanaStorageSize",
    "grafana.persistence.storageClassName": "storageClass",
    "grafana.ingress": "grafanaIngressEnabled, grafanaIngressClassName, grafanaIngressTlsSecret, grafanaUrl",
    "grafana.additionalDataSources": "thanosEnabled",
    "grafana.sidecar.datasources.isDefaultDatasource": "thanosEnabled",
    "kube-state-metrics": "sparkEnabled",
}


def show(path: Path) -> str:
    """A path as `pulumi config set --path` takes it: dotted, bracketed where a key has a '.' or '/'."""
    return "".join(f'["{p}"]' if any(c in p for c in "./[]") else f".{p}" for p in path)

# Maps of our values whose keys are a setting's (thanosServiceAccountAnnotations).
SETTING_KEYED_MAPS: tuple[Path, ...] = (("prometheus", "serviceAccount", "annotations"),)


def _leaves(values: Any, prefix: Path = ()) -> Iterator[Path]:
    """Leaf paths of a values tree; a list or an empty object is a leaf (replaced whole)."""
    if isinstance(values, Mapping) and values:
        for key, value in values.items():
            yield from _leaves(value, prefix + (str(key),))
    else:
        yield prefix


@functools.lru_cache(maxsize=1)
def owned_paths() -> frozenset[Path]:
    """Every leaf of the values chart_values computes for a stand-in stack with every optional part on."""
    from components.prometheus_stack import AlertmanagerWiring, ChartContributions, Datasource, ThanosSidecar, chart_values, settings as stack_settings
    from core.layers import layers as declared_layers
    from core.rules import Links
    from core.wiring import Wiring

    defaults = {s.key: s.default for s in stack_settings.SETTINGS}
    g = defaults.__getitem__
    standin = stack_settings.PrometheusStackSettings(
        chart=stack_settings.ChartSettings(g("kubePrometheusStackVersion"), g("helmRepository")),
        prometheus=stack_settings.PrometheusSettings(
            replicas=g("prometheusReplicas"),
            anti_affinity=g("prometheusAntiAffinity"),
            retention=g("prometheusRetention"),
            storage_size=g("prometheusStorageSize"),
            resources=stack_settings.Resources(g("prometheusCpuRequest"), g("prometheusCpuLimit"), g("prometheusMemoryRequest"), g("prometheusMemoryLimit")),
            scrape_interval=g("prometheusScrapeInterval"),
            evaluation_interval=g("prometheusEvaluationInterval"),
        ),
        grafana=stack_settings.GrafanaSettings(
            url=g("grafanaUrl") + "/sub-path",
            admin_user=g("grafanaAdminUser"),
            storage_size=g("grafanaStorageSize"),
            ingress=stack_settings.GrafanaIngress(host="standin.invalid", path="/sub-path", class_name="standin", tls_secret="standin"),
        ),
        alertmanager=stack_settings.AlertmanagerSettings(replicas=g("alertmanagerReplicas"), retention=g("alertmanagerRetention"), storage_size=g("alertmanagerStorageSize")),
    )
    wiring = Wiring(
        namespace="standin",
        links=Links(runbook_base_url="https://standin.invalid", grafana_url=g("grafanaUrl")),
        opts=pulumi.ResourceOptions(),
        storage_class="standin",
        external_labels={"cluster": "standin", "environment": "standin", "platform": "dataops"},
    )
    contributions = ChartContributions(
        thanos_sidecar=ThanosSidecar(image="standin", objstore_secret_name="standin", objstore_secret_key="standin",
                                     remote_write_url="http://standin.invalid", service_account_annotations={"standin.invalid/role": "standin"}),
        thanos_datasource=Datasource(name="standin", uid="standin", url="http://standin.invalid", prometheus_type="Thanos"),
        alertmanager_wiring=AlertmanagerWiring(config_secret_name="standin", credential_secret_names=("standin",)),
        values=tuple(layer.chart_values() for layer in declared_layers() if layer.chart_values),
    )
    leaves = _leaves(chart_values(standin, wiring, contributions))
    sizing = tunable_paths()
    # A map whose keys come from a setting is owned whole: the stand-in's keys are not the stack's.
    return frozenset(next((m for m in SETTING_KEYED_MAPS if leaf[: len(m)] == m), leaf) for leaf in leaves if leaf not in sizing)


def tunable_paths() -> frozenset[Path]:
    """The chart pods' requests and limits (hardening.py): per-profile defaults no setting
    controls. Tuning them (kube-state-metrics or node-exporter on a large cluster) is what this
    escape hatch is for; their security values (securityContext, tokens) stay owned."""
    from components.prometheus_stack.hardening import hardening_values

    return frozenset(leaf for profile in ("dev", "staging", "prod") for leaf in _leaves(hardening_values(profile, True)) if "resources" in leaf)


def owner(path: Path) -> str:
    """The setting(s) that control an owned path, or "" when no setting does (the program's fixed choice)."""
    for length in range(len(path), 0, -1):
        found = OWNING_SETTINGS.get(".".join(path[:length]))
        if found:
            return found
    return ""


def conflicts(overrides: Mapping[str, Any], owned: frozenset[Path]) -> Iterator[tuple[Path, Any]]:
    """Override leaves that would change an owned value: the same leaf, a leaf below an owned
    leaf, or a value (not an object) where owned values sit below."""
    for leaf in _leaves(overrides):
        if any(leaf[: len(o)] == o or o[: len(leaf)] == leaf for o in owned):
            yield leaf, _get(overrides, leaf)


def _get(tree: Mapping[str, Any], path: Path) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def read(reader: Reader, stack: Any) -> dict[str, Any]:
    """The overrides object, or {} with a problem per owned key it sets (the settings error lists them all)."""
    raw = reader.get(KEY)
    full = f"{PROJECT}:{KEY}"
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        reader.problem(f"{full} = {raw!r}: must be an object of chart values. Fix: pulumi config rm {full} && {reader.fix(KEY)}")
        return {}
    if runtime_config.is_config_secret(full):
        # Never echo it: a secret value sits somewhere in it.
        reader.problem(
            f"{full} holds a secret value: chart values are stored in the Helm release, so credentials go in a Kubernetes Secret the chart "
            f"references (e.g. grafana.envFromSecret, grafana.admin.existingSecret). Fix: pulumi config rm --path '{full}<path of the secret value>'"
        )
        return {}
    owned = owned_paths()
    bad = list(conflicts(raw, owned))
    for path, value in bad:
        # A value over one of our objects: the settings of everything below it.
        settings_ = owner(path) or ", ".join(sorted({owner(o) for o in owned if o[: len(path)] == path} - {""}))
        where = f"{full}{show(path)}"
        instead = f"set by {settings_}: use that setting instead" if settings_ else "set by this program (no setting changes it)"
        reader.problem(f"{where} = {json.dumps(value)}: {'.'.join(path)} is {instead}. Fix: pulumi config rm --path '{where}'")
    return {} if bad else dict(raw)


def apply(values: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with ``overrides`` deep-merged over them (objects merged, anything else replaced).

    Copies only the objects along the merged paths: ``values`` may hold Pulumi Outputs (the
    namespace), which cannot be deep-copied."""
    merged = dict(values)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = apply(dict(merged[key]), value)
        else:
            merged[key] = json.loads(json.dumps(value))  # a private copy of plain JSON
    return merged


__all__ = ["KEY", "OWNING_SETTINGS", "apply", "conflicts", "owned_paths", "owner", "read", "show", "tunable_paths"]
