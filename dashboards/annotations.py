"""Change annotations: Argo CD syncs and Jenkins deploy builds on every DataOps dashboard.

A latency spike or an error burst is read against the change that caused it: every dashboard
carries three Prometheus annotation queries on ``$datasource`` (toggles at the top):

* Argo CD syncs that succeeded, and syncs that failed (``argocd_app_sync_total``,
  docs/metrics/argocd.yaml), one event per application;
* Jenkins deploy builds (jobs whose name contains "deploy", as JenkinsDeployPipelineFailing
  selects them): ``default_jenkins_builds_last_build_start_time_milliseconds``
  (docs/metrics/jenkins.yaml) changes when the job's last completed build changes.

Grafana runs an annotation query as a range query with step = ``$__interval`` and marks the
steps where it returns a value > 0. ``x - x offset $__interval`` compares each step with the
previous one, so consecutive steps cover time without gaps or overlap: every sync lands in
exactly one step. (``increase(x[$__interval])`` does not: Prometheus 3 windows are
left-open and hold only the samples inside them, so an increment between the last sample
of one window and the first of the next is seen by neither.) Limitation shared with
``increase()``: the first sync of an application and phase creates its counter series, and
a series with no earlier sample is not compared; the next sync is.

Title, text and tags come from the series labels (the Prometheus datasource's
``titleFormat`` / ``textFormat`` / ``tagKeys``, which the SDK's generic AnnotationQuery
model does not have: ``PrometheusAnnotation`` adds them to the same builder).
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.base import C, DS

# Keys of a Prometheus annotation query that the SDK model does not declare.
PROMETHEUS_KEYS = ("tagKeys", "textFormat", "titleFormat")

# Same job selection as JenkinsDeployPipelineFailing (rules/gitops.rules.yaml).
JENKINS_DEPLOY_JOBS = 'jenkins_job=~"(?i).*deploy.*"'


class _PrometheusAnnotationModel(dm.AnnotationQuery):
    def __init__(self) -> None:
        super().__init__()
        self.prometheus: dict[str, str] = {}

    def to_json(self) -> dict[str, Any]:
        payload = super().to_json()
        payload.update(sorted(self.prometheus.items()))
        return payload


class PrometheusAnnotation(db.AnnotationQuery):
    """The SDK's AnnotationQuery builder plus the Prometheus datasource's label formats."""

    _internal: _PrometheusAnnotationModel

    def __init__(self) -> None:
        self._internal = _PrometheusAnnotationModel()

    def title_format(self, fmt: str) -> "PrometheusAnnotation":
        self._internal.prometheus["titleFormat"] = fmt
        return self

    def text_format(self, fmt: str) -> "PrometheusAnnotation":
        self._internal.prometheus["textFormat"] = fmt
        return self

    def tag_keys(self, *labels: str) -> "PrometheusAnnotation":
        self._internal.prometheus["tagKeys"] = ",".join(labels)
        return self


def _changed(metric: str, selector: str, by: str) -> str:
    """Per ``by`` group: the value now minus the value one step (``$__interval``) earlier."""
    return f"sum by ({by}) ({metric}{{{selector}}}) - sum by ({by}) ({metric}{{{selector}}} offset $__interval)"


def argocd_syncs(phase: str) -> str:
    sel = f'phase{phase}, dry_run!="true", {C}'
    return f"({_changed('argocd_app_sync_total', sel, 'name, project')}) > 0"


ARGOCD_SYNCED = argocd_syncs('="Succeeded"')
ARGOCD_SYNC_FAILED = argocd_syncs('=~"Failed|Error"')
_JENKINS = "default_jenkins_builds_last_build_start_time_milliseconds"
_JSEL = f"{JENKINS_DEPLOY_JOBS}, {C}"
# The start time of the job's last completed build, where it differs from one step earlier.
JENKINS_DEPLOY = f"max by (jenkins_job) ({_JENKINS}{{{_JSEL}}}) != max by (jenkins_job) ({_JENKINS}{{{_JSEL}}} offset $__interval)"


def _annotation(name: str, expr: str, color: str, title: str, text: str, *tags: str) -> PrometheusAnnotation:
    return (
        PrometheusAnnotation()
        .name(name)
        .datasource(DS)
        .enable(True)
        .hide(False)
        .icon_color(color)
        .expr(expr)
        .title_format(title)
        .text_format(text)
        .tag_keys(*tags)
    )


def change_annotations() -> list[PrometheusAnnotation]:
    """The change annotations every DataOps dashboard carries, in a fixed order."""
    return [
        _annotation(
            "Argo CD 동기화 (Argo CD syncs)",
            ARGOCD_SYNCED,
            "blue",
            "Argo CD sync: {{name}}",
            "Argo CD synced application {{name}} (project {{project}}).",
            "project",
            "name",
        ),
        _annotation(
            "Argo CD 동기화 실패 (Argo CD failed syncs)",
            ARGOCD_SYNC_FAILED,
            "red",
            "Argo CD sync failed: {{name}}",
            "A sync of application {{name}} (project {{project}}) ended Failed or Error.",
            "project",
            "name",
        ),
        _annotation(
            "Jenkins 배포 빌드 (Jenkins deploy builds)",
            JENKINS_DEPLOY,
            "purple",
            "Jenkins deploy: {{jenkins_job}}",
            "A new build of {{jenkins_job}} finished (the plugin reports the last completed build).",
            "jenkins_job",
        ),
    ]
