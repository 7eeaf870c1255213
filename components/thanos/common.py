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
from core.k8s import MANAGED_BY, labels, monitor, pod_spec, restricted_security_context, spread_over_nodes
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

HTTP = k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT, protocol="TCP")
GRPC = k8s.core.v1.ContainerPortArgs(name="grpc", container_port=GRPC_PORT, protocol="TCP")
OBJSTORE_VOLUME = k8s.core.v1.VolumeArgs(name="objstore", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=OBJSTORE_SECRET))
OBJSTORE_VOLUME_MOUNT = k8s.core.v1.VolumeMountArgs(name="objstore", mount_path=OBJSTORE_MOUNT, read_only=True)
OBJSTORE_FLAG = f"--objstore.config-file={OBJSTORE_MOUNT}/{OBJSTORE_KEY}"
COMMON_FLAGS = ("--log.level=info", "--log.format=logfmt", f"--http-address=0.0.0.0:{HTTP_PORT}")
# The pods' security context (core.k8s.pod_spec adds the RuntimeDefault seccomp profile). Volumes
# written by the former uid 1001 are re-grouped once (the root directory's group then matches),
# not on every start: the Compactor's volume holds many files.
POD_SECURITY_CONTEXT = k8s.core.v1.PodSecurityContextArgs(
    run_as_non_root=True, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_USER, fs_group=RUN_AS_USER, fs_group_change_policy="OnRootMismatch"
)
TERMINATION_GRACE_PERIOD_S = 120


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


def _probe(path: str, initial_delay: int, failure_threshold: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        initial_delay_seconds=initial_delay,
        period_seconds=10,
        timeout_seconds=5,
        failure_threshold=failure_threshold,
    )


def data_mount(path: str) -> k8s.core.v1.VolumeMountArgs:
    """The part's own volume ("data", a StatefulSet's volume claim) at ``path``."""
    return k8s.core.v1.VolumeMountArgs(name="data", mount_path=path)


def container(
    component: str,
    image: str,
    args: pulumi.Input,
    ports: list[k8s.core.v1.ContainerPortArgs],
    mounts: list[k8s.core.v1.VolumeMountArgs],
    resources: Mapping[str, Mapping[str, str]],
    env: Optional[list[k8s.core.v1.EnvVarArgs]] = None,
) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=component.removeprefix("thanos-"),
        image=image,
        image_pull_policy="IfNotPresent",
        args=args,
        ports=ports,
        resources=k8s.core.v1.ResourceRequirementsArgs(**{k: dict(v) for k, v in resources.items()}),
        liveness_probe=_probe("/-/healthy", 30, 6),
        readiness_probe=_probe("/-/ready", 10, 3),
        security_context=restricted_security_context(RUN_AS_USER),
        volume_mounts=mounts,
        env=env or None,
    )


def pod_options(build: Build, component: str, replicas: int) -> dict[str, Any]:
    """What every Thanos pod gets besides its container and volumes (``core.k8s.pod_spec``
    parameters; the security context is POD_SECURITY_CONTEXT). No Kubernetes API token: Thanos
    finds its peers by DNS SRV and reads the bucket with S3 keys, also with a cloud identity (the
    EKS/Azure webhook projects its own token volume; GKE answers on the metadata server). Two
    replicas or more: on different nodes when possible, so one node loss keeps the query path up."""
    return {
        "service_account_name": build.service_account,
        "termination_grace_period_seconds": TERMINATION_GRACE_PERIOD_S,
        "affinity": spread_over_nodes(selector(component)) if replicas > 1 else None,
    }


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
    main: k8s.core.v1.ContainerArgs,
    size: str,
    parallel: bool = False,
) -> k8s.apps.v1.StatefulSet:
    """A Thanos part with its own volume ("data") and the objstore Secret mounted; protected
    like every volume that holds monitoring data."""
    spec = k8s.apps.v1.StatefulSetSpecArgs(
        replicas=replicas,
        service_name=component,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component)),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component)),
            spec=pod_spec([main], volumes=[OBJSTORE_VOLUME], security_context=POD_SECURITY_CONTEXT, **pod_options(build, component, replicas)),
        ),
        volume_claim_templates=[
            k8s.core.v1.PersistentVolumeClaimArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    storage_class_name=build.wiring.storage_class,
                    access_modes=["ReadWriteOnce"],
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
                ),
            )
        ],
        pod_management_policy="Parallel" if parallel else None,
    )
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
