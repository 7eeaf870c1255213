"""The chart's control-plane monitoring, on or off per stack (``controlPlaneMonitoring``).

On a managed cluster (EKS, GKE, AKS) the controller manager, scheduler and etcd are not
reachable from inside, and kube-proxy may be replaced (Cilium): the chart's ServiceMonitors for
them find nothing, and its critical ``*Down`` alerts (KubeControllerManagerDown,
KubeSchedulerDown, KubeProxyDown, etcdInsufficientMembers, ...) page from the first day on.

``false`` turns off both halves, read from kube-prometheus-stack 88.5.3 (helm-charts
``ea930baee``): the scrape objects (``values.yaml`` ``kubeControllerManager.enabled`` line 2025,
``kubeEtcd.enabled`` 2326, ``kubeScheduler.enabled`` 2440, ``kubeProxy.enabled`` 2579; each
``templates/exporters/<x>/servicemonitor.yaml`` is gated on it) and the rule groups
(``defaultRules.rules.<group>``; ``templates/prometheus/rules-1.14/`` ``etcd.yaml``,
``kubernetes-system-controller-manager.yaml``, ``kubernetes-system-scheduler.yaml``,
``kube-scheduler.rules.yaml`` and ``kubernetes-system-kube-proxy.yaml`` need both their group
and ``<x>.enabled``). The group keys are set too so a later chart that drops the ``<x>.enabled``
gate from a template still leaves the group off.

``true`` (the default) adds nothing: the chart's defaults are already on, and the rendered
values stay as they were.
"""

from __future__ import annotations

from typing import Any

#: The chart's value key of each control-plane part -> its defaultRules.rules groups.
CONTROL_PLANE_PARTS: dict[str, tuple[str, ...]] = {
    "kubeControllerManager": ("kubeControllerManager",),
    "kubeScheduler": ("kubeSchedulerAlerting", "kubeSchedulerRecording"),
    "kubeEtcd": ("etcd",),
    "kubeProxy": ("kubeProxy",),
}


def control_plane_values(enabled: bool) -> dict[str, Any]:
    """Helm values for the chart; empty when the control plane is monitored (the chart's default)."""
    if enabled:
        return {}
    values: dict[str, Any] = {part: {"enabled": False} for part in CONTROL_PLANE_PARTS}
    values["defaultRules"] = {"rules": {group: False for groups in CONTROL_PLANE_PARTS.values() for group in groups}}
    return values
