"""PrometheusStack: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.prometheus_stack import overrides
from components.prometheus_stack.hardening import hardening_values
from components.prometheus_stack.network import RELEASE_NAME, chart_network_policies
from components.prometheus_stack.control_plane import control_plane_values
from components.prometheus_stack.settings import PrometheusStackSettings
from core.k8s import credentials_secret, RUNTIME_DEFAULT_SECCOMP, merge_values
from core.rules import RULE_SELECTOR_LABELS, RULER_LABELS
from core.wiring import Wiring

GRAFANA_ADMIN_SECRET = "grafana-admin"
# Where the admin Secret is mounted, as files, in Grafana and in its two sidecars.
GRAFANA_ADMIN_DIR = "/etc/secrets/grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
# The operator's default replica label; Thanos Query deduplicates HA pairs on it.
PROMETHEUS_REPLICA_LABEL = "prometheus_replica"


@dataclass(frozen=True)
class ThanosSidecar:
    """What the Prometheus pods need to run the Thanos sidecar (names only: the Thanos component owns the Secret)."""

    image: str
    # None when Receive ingests via remote write: Receive uploads the blocks, and a sidecar
    # uploading the same samples too would store them twice under different labels.
    objstore_secret_name: Optional[str]
    objstore_secret_key: Optional[str]
    remote_write_url: Optional[str] = None
    # thanosServiceAccountAnnotations: the cloud identity the sidecar uploads with (Prometheus' ServiceAccount).
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Datasource:
    name: str
    uid: str
    url: str
    prometheus_type: str  # Grafana's jsonData.prometheusType: Prometheus or Thanos


@dataclass(frozen=True)
class AlertmanagerWiring:
    """Alertmanager config delivered as a Secret owned by the Alerting component."""

    config_secret_name: str
    credential_secret_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChartContributions:
    """What other domains put into the chart: each is None (or empty) when that domain is off."""

    thanos_sidecar: Optional[ThanosSidecar] = None
    thanos_datasource: Optional[Datasource] = None
    alertmanager_wiring: Optional[AlertmanagerWiring] = None
    # Helm values other components need (e.g. kube-state-metrics custom resource state).
    values: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


def _volume_claim(storage_class: str, size: str) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            }
        }
    }


def _anti_affinity(mode: str) -> str:
    # The chart takes "hard", "soft" or "" (none).
    return "" if mode == "none" else mode


def grafana_admin_mount(secret: bool = False) -> dict[str, Any]:
    """The admin Secret as read-only files: the pod's volume (extraSecretMounts) or a sidecar's mount of it."""
    mount: dict[str, Any] = {"name": "grafana-admin", "mountPath": GRAFANA_ADMIN_DIR, "readOnly": True}
    if secret:
        # Owner root, group the pod's fsGroup (Kubernetes sets it on Secret volumes): readable by its containers only.
        mount.update(secretName=GRAFANA_ADMIN_SECRET, defaultMode=0o440)
    return mount


def sidecar_admin_files() -> dict[str, str]:
    return {"REQ_USERNAME_FILE": f"{GRAFANA_ADMIN_DIR}/admin-user", "REQ_PASSWORD_FILE": f"{GRAFANA_ADMIN_DIR}/admin-password"}


def chart_values(settings: PrometheusStackSettings, wiring: Wiring, contributions: ChartContributions) -> dict[str, Any]:
    """kube-prometheus-stack values built from typed settings (guide section 1.1, corrected)."""
    p = settings.prometheus
    prometheus_spec: dict[str, Any] = {
        "replicas": p.replicas,
        "podAntiAffinity": _anti_affinity(p.anti_affinity),
        "retention": p.retention,
        "scrapeInterval": p.scrape_interval,
        "evaluationInterval": p.evaluation_interval,
        "resources": {
            "requests": {"cpu": p.resources.cpu_request, "memory": p.resources.memory_request},
            "limits": {"cpu": p.resources.cpu_limit, "memory": p.resources.memory_limit},
        },
        "storageSpec": _volume_claim(wiring.storage_class, p.storage_size),
        "externalLabels": dict(wiring.external_labels),
        "replicaExternalLabelName": PROMETHEUS_REPLICA_LABEL,
        # Pick up ServiceMonitors/PodMonitors/Probes from every namespace, not only the chart's own.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        # Rules: the chart's own default rules and ours (labelled), nothing else.
        "ruleSelector": {
            "matchExpressions": [{"key": key, "operator": "In", "values": [value]} for key, value in RULE_SELECTOR_LABELS.items()]
            # ... except those the Thanos Ruler evaluates (windows longer than the retention).
            + [{"key": key, "operator": "NotIn", "values": [value]} for key, value in RULER_LABELS.items()]
        },
        # Merged into the chart's pod securityContext (non-root 1000/2000): the runtime's syscall filter.
        # Prometheus keeps its service account token: Kubernetes service discovery needs it.
        "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)},
    }
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE_NAME,
        # Helm installs CRDs once and never upgrades them; the chart's pre-upgrade job applies
        # the CRDs of the new chart version before the operator that needs them starts.
        "crds": {"enabled": True, "upgradeJob": {"enabled": True, "image": {"busybox": {"tag": "1.37.0"}}}},
        "defaultRules": {
            "create": True,
            "labels": dict(RULE_SELECTOR_LABELS),
        },
        "prometheus": {"prometheusSpec": prometheus_spec},
        "alertmanager": {
            "alertmanagerSpec": {
                "replicas": settings.alertmanager.replicas,
                "retention": settings.alertmanager.retention,
                "podAntiAffinity": "hard" if settings.alertmanager.replicas > 1 else "",
                "storage": _volume_claim(wiring.storage_class, settings.alertmanager.storage_size),
                "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)},
                # Alertmanager and its config reloader read mounted files and never call the API.
                "automountServiceAccountToken": False,
            }
        },
        "grafana": {
            # Links Grafana builds (and alert dashboard links) use the external URL.
            "grafana.ini": {"server": {"root_url": settings.grafana.url}},
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            # The admin credentials as files, not environment variables (checkov CKV_K8S_35):
            # the image's run.sh reads every GF_*__FILE (grafana/grafana packaging/docker/run.sh),
            # and with these two set the chart (12.11.1 _pod.tpl) drops its secretKeyRef variables
            # from Grafana and REQ_PASSWORD from the sidecars, which read the same files instead.
            "env": {
                "GF_SECURITY_ADMIN_USER__FILE": f"{GRAFANA_ADMIN_DIR}/admin-user",
                "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{GRAFANA_ADMIN_DIR}/admin-password",
            },
            "extraSecretMounts": [grafana_admin_mount(secret=True)],
            # One ReadWriteOnce volume: a rolling update would start the new pod before the old one
            # releases the volume and hang (on another node) until the release times out.
            "deploymentStrategy": {"type": "Recreate"},
            "persistence": {
                "enabled": True,
                "size": settings.grafana.storage_size,
                "storageClassName": wiring.storage_class,
            },
            # Merged into the chart's pod securityContext (user 472). Grafana keeps its token: the sidecars read ConfigMaps.
            "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)},
            # The dashboard sidecar reads ConfigMaps of the monitoring namespace only (where
            # Dashboards creates them), through a Role there instead of a ClusterRole.
            "rbac": {"namespaced": True},
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    # k8s-sidecar 2.10.1 reads REQ_USERNAME_FILE/REQ_PASSWORD_FILE before each reload call.
                    "env": sidecar_admin_files(),
                    "extraMounts": [grafana_admin_mount()],
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": "",  # the monitoring namespace, set after merging (below)
                    "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                    # Dashboards are code: edits in the UI would be lost on the next rollout.
                    "provider": {"allowUiUpdates": False, "foldersFromFilesStructure": True},
                },
                "datasources": {
                    "enabled": True,
                    "defaultDatasourceEnabled": True,
                    "isDefaultDatasource": True,
                    "env": sidecar_admin_files(),
                    "extraMounts": [grafana_admin_mount()],
                },
            },
        },
    }
    if contributions.thanos_sidecar is not None:
        prometheus_spec["thanos"] = {"image": contributions.thanos_sidecar.image}
        if contributions.thanos_sidecar.objstore_secret_name:
            prometheus_spec["thanos"]["objectStorageConfig"] = {
                "existingSecret": {
                    "name": contributions.thanos_sidecar.objstore_secret_name,
                    "key": contributions.thanos_sidecar.objstore_secret_key,
                }
            }
        # A headless Service whose SRV records let Thanos Query discover every sidecar.
        values["prometheus"]["thanosService"] = {"enabled": True}
        values["prometheus"]["thanosServiceMonitor"] = {"enabled": True}
        if contributions.thanos_sidecar.service_account_annotations:
            values["prometheus"]["serviceAccount"] = {"annotations": dict(contributions.thanos_sidecar.service_account_annotations)}
        if contributions.thanos_sidecar.remote_write_url:
            prometheus_spec["remoteWrite"] = [
                {"url": contributions.thanos_sidecar.remote_write_url, "queueConfig": {"capacity": 10000, "maxShards": 10}}
            ]
    ingress = settings.grafana.ingress
    if ingress is not None:
        # Keys of the grafana chart's values.yaml (ingress.enabled, ingressClassName, path,
        # pathType, hosts: a list of host names, tls: [{secretName, hosts}]).
        values["grafana"]["ingress"] = {"enabled": True, "hosts": [ingress.host], "path": ingress.path, "pathType": "Prefix"}
        if ingress.class_name:
            values["grafana"]["ingress"]["ingressClassName"] = ingress.class_name
        if ingress.tls_secret:
            values["grafana"]["ingress"]["tls"] = [{"secretName": ingress.tls_secret, "hosts": [ingress.host]}]
        if ingress.path != "/":
            # grafanaUrl has a path: Grafana serves under it (the Ingress passes the path on unchanged).
            values["grafana"]["grafana.ini"]["server"]["serve_from_sub_path"] = True
    if contributions.thanos_datasource is not None:
        ds = contributions.thanos_datasource
        values["grafana"]["sidecar"]["datasources"]["isDefaultDatasource"] = False
        values["grafana"]["additionalDataSources"] = [
            {
                "name": ds.name,
                "uid": ds.uid,
                "type": "prometheus",
                "access": "proxy",
                "url": ds.url,
                "isDefault": True,
                "jsonData": {"prometheusType": ds.prometheus_type, "timeInterval": settings.prometheus.scrape_interval},
            }
        ]
    if contributions.alertmanager_wiring is not None:
        am_spec = values["alertmanager"]["alertmanagerSpec"]
        am_spec["useExistingSecret"] = True
        am_spec["configSecret"] = contributions.alertmanager_wiring.config_secret_name
        if contributions.alertmanager_wiring.credential_secret_names:
            am_spec["secrets"] = list(contributions.alertmanager_wiring.credential_secret_names)
    merged = merge_values(values, hardening_values(settings.profile, contributions.thanos_sidecar is not None), control_plane_values(settings.control_plane_monitoring), *contributions.values)
    # The dashboard sidecar reads ConfigMaps of the monitoring namespace only (where Dashboards
    # creates them). Set after merging: the namespace may be an Output, which cannot be deep-copied.
    merged["grafana"]["sidecar"]["dashboards"]["searchNamespace"] = wiring.namespace
    return overrides.apply(merged, settings.overrides)  # kubePrometheusStackValues: the team's values, last


class PrometheusStack(pulumi.ComponentResource):
    """Deploys kube-prometheus-stack; other components hang their CRs off ``operator``."""

    release: k8s.helm.v3.Release
    operator: pulumi.Resource
    grafana_admin_password: pulumi.Output[str]
    prometheus_url: pulumi.Output[str]
    alertmanager_url: pulumi.Output[str]

    def __init__(self, name: str, settings: PrometheusStackSettings, wiring: Wiring, contributions: ChartContributions):
        super().__init__("dataops:monitoring:PrometheusStack", name, None, wiring.opts)
        child = pulumi.ResourceOptions(parent=self)

        if settings.grafana.admin_password is not None:
            # The team's own password (grafanaAdminPassword): nothing generated.
            self.grafana_admin_password = pulumi.Output.secret(settings.grafana.admin_password)
        else:
            password = random.RandomPassword(
                "grafana-admin-password",
                length=32,
                special=False,  # survives every shell and URL the on-call pastes it into
                opts=child,
            )
            self.grafana_admin_password = pulumi.Output.secret(password.result)
        admin_secret = credentials_secret(
            GRAFANA_ADMIN_SECRET, wiring.namespace, "grafana", {"admin-user": settings.grafana.admin_user, "admin-password": self.grafana_admin_password}, self
        )

        self.release = k8s.helm.v3.Release(
            RELEASE_NAME,
            name=RELEASE_NAME,
            # From the repository, or from where kubePrometheusStackChart says (an internal OCI
            # registry or a local chart): the same release name and version either way.
            chart=settings.chart.location or "kube-prometheus-stack",
            version=settings.chart.version,
            namespace=wiring.namespace,
            repository_opts=None if settings.chart.location else k8s.helm.v3.RepositoryOptsArgs(repo=settings.chart.repository),
            values=chart_values(settings, wiring, contributions),
            # Not atomic: one slow volume (Grafana's RWO claim, a Prometheus PVC resize) would
            # otherwise roll back every other part of the chart. A failed upgrade leaves the
            # release failed with the old pods still serving; the next `pulumi up` retries it.
            atomic=False,
            cleanup_on_fail=False,
            timeout=600,
            max_history=10,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[admin_secret], protect=wiring.protect),
        )
        self.operator = self.release
        self.network_policies = chart_network_policies(wiring.namespace, settings.api_server_cidrs, self)
        service = f"{RELEASE_NAME}-prometheus"
        self.prometheus_url = pulumi.Output.concat("http://", service, ".", wiring.namespace, ".svc:9090")
        self.alertmanager_url = pulumi.Output.concat("http://", RELEASE_NAME, "-alertmanager.", wiring.namespace, ".svc:9093")
        self.port_forward = pulumi.Output.all(wiring.namespace).apply(
            lambda ns: {
                "prometheus": f"kubectl -n {ns[0]} port-forward svc/{service} 9090",
                "alertmanager": f"kubectl -n {ns[0]} port-forward svc/{RELEASE_NAME}-alertmanager 9093",
                "grafana": f"kubectl -n {ns[0]} port-forward svc/{RELEASE_NAME}-grafana 3000:80",
            }
        )
        # No rule file of its own: Prometheus and Alertmanager are watched by the chart's default
        # rules (PrometheusRuleFailures, AlertmanagerFailedToSendAlerts, ...; docs/alerts-vs-upstream.md).
        self.register_outputs(
            {
                "release": self.release.name,
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaAdminPassword": self.grafana_admin_password,
            }
        )
