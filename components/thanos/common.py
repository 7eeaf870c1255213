"""What every Thanos part shares: the bucket Secret's names, ports, flags, and how a part's
pod, Service, StatefulSet, ServiceMonitor and PodDisruptionBudget are built.

Each part (query, store, compact, receive, ruler) is one module with its names, flags and
resources; ``components/thanos/__init__.py`` composes them under the Thanos component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.thanos.settings import ThanosSettings
from core.k8s import MANAGED_BY, labels, monitor
from core.wiring import Wiring

OBJSTORE_SECRET = "thanos-objstore"
OBJSTORE_KEY = "objstore.yml"
OBJSTORE_MOUNT = "/etc/thanos"

HTTP_PORT = 10902  # every Thanos component: metrics, /-/healthy, /-/ready, UI
GRPC_PORT = 10901  # StoreAPI
# Query's Service, which the Ruler and Grafana address: the Prometheus HTTP API on the usual port.
QUERY = "thanos-query"
QUERY_SERVICE_PORT = 9090
# The ServiceAccount the Thanos pods run as when thanosServiceAccountAnnotations gives them a
# cloud identity (otherwise they run as the namespace's default account, as before).
SERVICE_ACCOUNT = "thanos"

# The image is /bin/thanos (root-owned, world-executable) on quay.io/prometheus/busybox
# (thanos-io/thanos Dockerfile), and every path Thanos writes is a volume (fsGroup): any uid
# runs it. Nobody (65534), like our exporters: a uid above 10000 never maps to a host account
# (checkov CKV_K8S_40); 1001 before.
RUN_AS_USER = 65534

HTTP = {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}
GRPC = {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"}
OBJSTORE_VOLUME = {"name": "objstore", "secret": {"secretName": OBJSTORE_SECRET}}
OBJSTORE_VOLUME_MOUNT = {"name": "objstore", "mountPath": OBJSTORE_MOUNT, "readOnly": True}
OBJSTORE_FLAG = f"--objstore.config-file={OBJSTORE_MOUNT}/{OBJSTORE_KEY}"
COMMON_FLAGS = ("--log.level=info", "--log.format=logfmt", f"--http-address=0.0.0.0:{HTTP_PORT}")
POD_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "fsGroup": RUN_AS_USER,
    # Volumes written by the former uid 1001 are re-grouped once (the root directory's group
    # then matches), not on every start: the Compactor's volume holds many files.
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Build:
    """What a part is built with: the Thanos component (parent), the stack's settings and wiring,
    the namespace as an Output (flags that name it) and the bucket's Secret."""

    parent: pulumi.ComponentResource
    thanos: ThanosSettings
    wiring: Wiring
    namespace: pulumi.Output
    objstore_secret: k8s.core.v1.Secret

    @property
    def needs_bucket(self) -> pulumi.ResourceOptions:
        """Options of what reads the bucket: a child of Thanos that waits for the objstore Secret."""
        return pulumi.ResourceOptions(parent=self.parent, depends_on=[self.objstore_secret])

    @property
    def child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    @property
    def service_account(self) -> Optional[str]:
        return SERVICE_ACCOUNT if self.thanos.service_account_annotations else None

    def meta(self, component: str, resource_name: Optional[str] = None) -> dict[str, Any]:
        return {"name": resource_name or component, "namespace": self.wiring.namespace, "labels": labels(component)}


def selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": MANAGED_BY["app.kubernetes.io/part-of"]}


def _probe(path: str, initial_delay: int, failure_threshold: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": failure_threshold,
    }


def container(
    component: str,
    image: str,
    args: pulumi.Input,
    ports: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    resources: Mapping[str, Mapping[str, str]],
    env: Optional[list] = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": component.removeprefix("thanos-"),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
        "resources": {k: dict(v) for k, v in resources.items()},
        "livenessProbe": _probe("/-/healthy", 30, 6),
        "readinessProbe": _probe("/-/ready", 10, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    if env:
        spec["env"] = env
    return spec


def pod_spec(component: str, main: dict[str, Any], volumes: list[dict[str, Any]], spread: bool, service_account: Optional[str] = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": dict(POD_SECURITY_CONTEXT),
        "terminationGracePeriodSeconds": 120,
        # Thanos finds its peers by DNS SRV and reads the bucket with S3 keys: no Kubernetes API token.
        "automountServiceAccountToken": False,
        "containers": [main],
        "volumes": volumes,
    }
    if service_account:
        # The cloud identity's webhook (EKS, Azure) projects its own token volume; GKE answers
        # on the metadata server: neither needs the Kubernetes API token mounted.
        spec["serviceAccountName"] = service_account
    if spread:
        # Replicas on different nodes when possible, so one node loss keeps the query path up.
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": selector(component)}},
                    }
                ]
            }
        }
    return spec


def service(build: Build, component: str, ports: list[dict[str, Any]], headless: bool, publish_not_ready: bool = False) -> k8s.core.v1.Service:
    """``publish_not_ready``: peers (hashring, SRV discovery) must resolve before the pods are ready."""
    spec: dict[str, Any] = {"selector": selector(component), "ports": ports}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = publish_not_ready
    return k8s.core.v1.Service(component, metadata=build.meta(component), spec=spec, opts=build.child)


def statefulset(
    build: Build,
    component: str,
    replicas: int,
    main: dict[str, Any],
    size: str,
    parallel: bool = False,
) -> k8s.apps.v1.StatefulSet:
    """A Thanos part with its own volume ("data") and the objstore Secret mounted; protected
    like every volume that holds monitoring data."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": component,
        "selector": {"matchLabels": selector(component)},
        "template": {
            "metadata": {"labels": labels(component)},
            "spec": pod_spec(component, main, [OBJSTORE_VOLUME], spread=replicas > 1, service_account=build.service_account),
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {"storageClassName": build.wiring.storage_class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
            }
        ],
    }
    if parallel:
        spec["podManagementPolicy"] = "Parallel"
    opts = pulumi.ResourceOptions.merge(build.needs_bucket, pulumi.ResourceOptions(protect=build.wiring.protect))
    return k8s.apps.v1.StatefulSet(component, metadata=build.meta(component), spec=spec, opts=opts)


def service_monitor(build: Build, component: str) -> k8s.apiextensions.CustomResource:
    """The part's /metrics; job = Service name (thanos-query, ...): rules/thanos.rules.yaml matches on it."""
    return monitor(
        "ServiceMonitor",
        f"{component}-servicemonitor",
        build.wiring.namespace,
        {
            "selector": {"matchLabels": selector(component)},
            "namespaceSelector": {"matchNames": [build.wiring.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
        build.parent,
        build.wiring.operator,
        component,
    )


def disruption_budget(build: Build, component: str, replicas: int) -> Optional[k8s.policy.v1.PodDisruptionBudget]:
    """minAvailable 1 in stacks with disruption budgets (prod), for parts with 2+ replicas:
    minAvailable 1 of 1 would block every node drain forever."""
    if not build.thanos.disruption_budgets or replicas < 2:
        return None
    return k8s.policy.v1.PodDisruptionBudget(
        f"{component}-pdb",
        metadata=build.meta(component),
        spec={"minAvailable": 1, "selector": {"matchLabels": selector(component)}},
        opts=build.child,
    )
