"""Thanos: long-term storage and the global, deduplicated query path (guide sections 1.1 and 4.3).

Prometheus keeps ``prometheusRetention`` (15d in prod) locally; its Thanos sidecar (configured by
PrometheusStack from :func:`thanos_sidecar`) uploads every 2h block to object storage. This
component owns what reads and maintains that bucket:

* ``thanos-objstore`` Secret (``objstore.yml``, Thanos' S3 format) shared with the sidecars;
* Thanos Query (Deployment, HA): fans out to the sidecars, the Store Gateway, Receive (when on)
  and any extra ``thanosStoreEndpoints`` (other clusters), deduplicating HA Prometheus pairs;
* Store Gateway (StatefulSet): serves the blocks in the bucket;
* Compactor (StatefulSet, exactly one replica): compaction, downsampling, retention;
* Receive (StatefulSet, only with ``thanosReceiveEnabled``): remote-write target;
* Thanos Ruler (the operator's ThanosRuler CR ``dataops``): evaluates the rules whose range is
  longer than Prometheus keeps (the SLOs' 30d error budgets, PrometheusRules labelled
  ``RULER_RULE_LABELS``) against Thanos Query, sends their alerts to the Alertmanagers and
  uploads what it records to the bucket; Query reads it back as one more StoreAPI;
* ServiceMonitors for each, PodDisruptionBudgets in prod, and ``rules/thanos.rules.yaml``.

Grafana's default datasource is :func:`thanos_datasource` (Thanos Query) when Thanos is enabled.
All flags are for the pinned Thanos v0.42 (``--store`` was removed in v0.38; ``--endpoint`` is
still supported there, though marked deprecated in favour of ``--endpoint.sd-config``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from core.k8s import MANAGED_BY, labels, monitor
from core.rules import RULE_SELECTOR_LABELS, RULER_LABELS, Links, RuleTarget, domain_rule
from components.prometheus_stack import PROMETHEUS_REPLICA_LABEL, RELEASE_NAME, Datasource, ThanosSidecar
from components.thanos.settings import BucketSettings, ThanosSettings

# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-05-optimization"
OBJSTORE_SECRET = "thanos-objstore"
OBJSTORE_KEY = "objstore.yml"
OBJSTORE_MOUNT = "/etc/thanos"

QUERY, STORE, COMPACT, RECEIVE = "thanos-query", "thanos-store", "thanos-compact", "thanos-receive"

HTTP_PORT = 10902  # every Thanos component: metrics, /-/healthy, /-/ready, UI
GRPC_PORT = 10901  # StoreAPI
QUERY_SERVICE_PORT = 9090  # Thanos Query's Service speaks the Prometheus HTTP API on the usual port
REMOTE_WRITE_PORT = 19291

# kube-prometheus-stack's `prometheus.thanosService` renders a headless Service named
# "<fullname>-thanos-discovery" (templates/prometheus/serviceThanosSidecar.yaml) with a port
# named "grpc"; fullnameOverride is RELEASE_NAME, so its SRV record names every sidecar.
SIDECAR_SERVICE = f"{RELEASE_NAME}-thanos-discovery"
# Receive's own external label per replica; Query deduplicates on it like on prometheus_replica.
RECEIVE_REPLICA_LABEL = "receive_replica"

# Thanos Ruler, run by the operator from a ThanosRuler CR (CRD shipped with the chart). The
# operator names its governing headless Service "thanos-ruler-operated" (ports web 10902, grpc
# 10901), labels it operated-thanos-ruler=true, sets the external label thanos_ruler_replica per
# replica and drops it from alerts (prometheus-operator pkg/thanos/statefulset.go).
RULER = "thanos-ruler"
RULER_NAME = "dataops"
RULER_SERVICE = "thanos-ruler-operated"
RULER_REPLICA_LABEL = "thanos_ruler_replica"
# PrometheusRules for the Ruler carry RULE_SELECTOR_LABELS and RULER_LABELS (core.rules);
# Prometheus' ruleSelector excludes RULER_LABELS, so a rule is evaluated by exactly one of them.
RULER_RULE_LABELS = {**RULE_SELECTOR_LABELS, **RULER_LABELS}
RULER_EVALUATION_INTERVAL = "1m"
# Local TSDB on the pod's emptyDir (the operator's default without spec.storage): recorded
# blocks go to the bucket every 2h, so a restart loses at most the last 2h of budget samples,
# which Query serves again from the next evaluation on. No volume: nothing to protect or migrate.
RULER_RETENTION = "2d"

# Requests and limits per component (no settings yet: sized for the guide's platform).
RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    QUERY: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    STORE: {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}},
    COMPACT: {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    RECEIVE: {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
    RULER: {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}
RECEIVE_STORAGE_SIZE = "50Gi"
RECEIVE_TSDB_RETENTION = "1d"  # blocks are shipped to the bucket every 2h; local data is a buffer

# The image runs as uid 1001 (thanos Dockerfile: `USER 1001`).
RUN_AS_USER = 1001


# --------------------------------------------------------------------------------------
# What other components need (plain values, computed before they exist)
# --------------------------------------------------------------------------------------


def receive_remote_write_url(namespace: str) -> str:
    return f"http://{RECEIVE}.{namespace}.svc:{REMOTE_WRITE_PORT}/api/v1/receive"


def query_url(namespace: str) -> str:
    return f"http://{QUERY}.{namespace}.svc:{QUERY_SERVICE_PORT}"


def thanos_sidecar(settings: ThanosSettings, namespace: str) -> Optional[ThanosSidecar]:
    """The sidecar PrometheusStack configures: same Secret as the rest of Thanos, same image."""
    if not settings.enabled:
        return None
    if settings.receive_enabled:
        # Receive owns the uploads; the sidecar only serves recent data to Query.
        return ThanosSidecar(image=settings.image, objstore_secret_name=None, objstore_secret_key=None,
                             remote_write_url=receive_remote_write_url(namespace))
    return ThanosSidecar(image=settings.image, objstore_secret_name=OBJSTORE_SECRET, objstore_secret_key=OBJSTORE_KEY)


def thanos_datasource(settings: ThanosSettings, namespace: str) -> Optional[Datasource]:
    """Grafana's default datasource when Thanos is on: Thanos Query (deduplicated, long-term)."""
    if not settings.enabled:
        return None
    return Datasource(name="Thanos", uid="thanos", url=query_url(namespace), prometheus_type="Thanos")


def objstore_config(bucket: BucketSettings, access_key: str, secret_key: str) -> dict[str, Any]:
    """Thanos' S3 objstore document (docs/storage.md, s3.Config); works for AWS S3, MinIO and Ceph RGW."""
    return {
        "type": "S3",
        "config": {
            "bucket": bucket.bucket,
            "endpoint": bucket.endpoint,  # host[:port], no scheme: `insecure` picks http or https
            "region": bucket.region,
            "insecure": bucket.insecure,
            "access_key": access_key,
            "secret_key": secret_key,
            # MinIO and Ceph RGW both speak SigV4; v2 is only for very old gateways.
            "signature_version2": False,
            # auto: virtual-hosted style for AWS, path style for MinIO/Ceph RGW (no wildcard DNS needed).
            "bucket_lookup_type": "auto",
        },
    }


def render_objstore(bucket: BucketSettings, access_key: str, secret_key: str) -> str:
    return yaml.safe_dump(objstore_config(bucket, access_key, secret_key), sort_keys=True)


# --------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThanosArgs:
    namespace: pulumi.Input[str]
    storage_class: str
    thanos: ThanosSettings
    # PrometheusStack.operator: the ServiceMonitor and PrometheusRule CRDs come with it.
    operator: pulumi.Resource
    links: Links  # where alerts' runbook and dashboard links point
    # Prod: PodDisruptionBudgets for Query and Store Gateway (minAvailable 1).
    pdb: bool = False
    # Pulumi protect on the volume-bearing StatefulSets (prod): a rename or destroy fails instead of deleting blocks.
    protect: bool = False
    # Store Gateway replicas; prod runs 2 so a drain never leaves Query without the bucket.
    store_replicas: int = 1
    # External labels of the stack (cluster, environment, platform): the Ruler's alerts and
    # recorded series carry them like Prometheus' do.
    external_labels: Optional[Mapping[str, str]] = None


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": MANAGED_BY["app.kubernetes.io/part-of"]}


def _probe(path: str, initial_delay: int, failure_threshold: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": failure_threshold,
    }


def _container(component: str, image: str, args: pulumi.Input, ports: list[dict[str, Any]], mounts: list[dict[str, Any]], env: Optional[list] = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": component.removeprefix("thanos-"),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": ports,
        "resources": {k: dict(v) for k, v in RESOURCES[component].items()},
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
        container["env"] = env
    return container


def _pod_spec(component: str, container: dict[str, Any], volumes: list[dict[str, Any]], spread: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 120,
        # Thanos finds its peers by DNS SRV and reads the bucket with S3 keys: no Kubernetes API token.
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    if spread:
        # Replicas on different nodes when possible, so one node loss keeps the query path up.
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": _selector(component)}},
                    }
                ]
            }
        }
    return spec


_HTTP = {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}
_GRPC = {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"}
_OBJSTORE_VOLUME = {"name": "objstore", "secret": {"secretName": OBJSTORE_SECRET}}
_OBJSTORE_MOUNT = {"name": "objstore", "mountPath": OBJSTORE_MOUNT, "readOnly": True}
_OBJSTORE_FLAG = f"--objstore.config-file={OBJSTORE_MOUNT}/{OBJSTORE_KEY}"
_COMMON_FLAGS = ("--log.level=info", "--log.format=logfmt", f"--http-address=0.0.0.0:{HTTP_PORT}")


def ruler_enabled(thanos: ThanosSettings) -> bool:
    """Whether this stack runs the Thanos Ruler: with Thanos, and only while Query sees this
    cluster alone. With ``thanosStoreEndpoints`` Query is global: the Ruler's 30d sums
    (``sum(increase(...))``) would add up every cluster's series, so the budgets stay in
    Prometheus (over its retention) instead."""
    return thanos.enabled and not thanos.store_endpoints


def query_endpoints(namespace: str, thanos: ThanosSettings) -> list[str]:
    """Store API endpoints of Query: sidecars, Store Gateway, Ruler, Receive by SRV; then other clusters."""
    srv = [SIDECAR_SERVICE, STORE] + ([RULER_SERVICE] if ruler_enabled(thanos) else []) + ([RECEIVE] if thanos.receive_enabled else [])
    return [f"dnssrv+_grpc._tcp.{service}.{namespace}.svc.cluster.local" for service in srv] + list(thanos.store_endpoints)


def endpoint_config(namespace: str, thanos: ThanosSettings) -> dict[str, Any]:
    """``--endpoint.sd-config`` content (Thanos v0.42 deprecates the repeated ``--endpoint`` flag).

    JSON is YAML, so one line in the container args; ``dnssrv+``/``dns+`` addresses are
    re-resolved by Query, which is why none is ``strict`` (Thanos refuses strict SD entries).
    """
    return {"endpoints": [{"address": address} for address in query_endpoints(namespace, thanos)]}


def query_flags(namespace: str, thanos: ThanosSettings) -> list[str]:
    """Thanos Query: dedup HA pairs, discover sidecars/store/receive by SRV, add other clusters."""
    flags = [
        "query",
        *_COMMON_FLAGS,
        f"--grpc-address=0.0.0.0:{GRPC_PORT}",
        f"--query.replica-label={PROMETHEUS_REPLICA_LABEL}",
    ]
    if thanos.receive_enabled:
        flags.append(f"--query.replica-label={RECEIVE_REPLICA_LABEL}")
    if ruler_enabled(thanos):
        # The Ruler's replicas record the same series; deduplicate them like Prometheus pairs.
        flags.append(f"--query.replica-label={RULER_REPLICA_LABEL}")
    flags.append("--endpoint.sd-config=" + json.dumps(endpoint_config(namespace, thanos), sort_keys=True, separators=(",", ":")))
    # Long ranges read 5m/1h downsampled blocks instead of raw samples.
    flags.append("--query.auto-downsampling")
    return flags


def ruler_spec(namespace: str, thanos: ThanosSettings, replicas: int, external_labels: Mapping[str, str]) -> dict[str, Any]:
    """ThanosRuler spec (monitoring.coreos.com/v1, field names from prometheus-operator's thanos_types.go).

    Queries go to Thanos Query (deduplicated, long-term); alerts to every Alertmanager replica
    by SRV on the chart's governing Service (port name http-web, the chart's portName).
    """
    return {
        "image": thanos.image,
        "replicas": replicas,
        "queryEndpoints": [f"{QUERY}.{namespace}.svc:{QUERY_SERVICE_PORT}"],
        "alertmanagersUrl": [f"dnssrv+http://_http-web._tcp.alertmanager-operated.{namespace}.svc.cluster.local"],
        # Only the rules meant for it, and only from this namespace (no ruleNamespaceSelector).
        "ruleSelector": {"matchLabels": dict(RULER_RULE_LABELS)},
        "evaluationInterval": RULER_EVALUATION_INTERVAL,
        "labels": dict(external_labels),
        "retention": RULER_RETENTION,
        "objectStorageConfig": {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY},
        "resources": {k: dict(v) for k, v in RESOURCES[RULER].items()},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def store_flags() -> list[str]:
    return ["store", *_COMMON_FLAGS, f"--grpc-address=0.0.0.0:{GRPC_PORT}", "--data-dir=/var/thanos/store", _OBJSTORE_FLAG]


def compact_flags(thanos: ThanosSettings) -> list[str]:
    # Downsampling is on by default in Thanos (there is no --downsampling flag; only
    # --downsampling.disable turns it off), so it is deliberately not passed here.
    return [
        "compact",
        *_COMMON_FLAGS,
        "--wait",
        "--wait-interval=5m",
        "--data-dir=/var/thanos/compact",
        _OBJSTORE_FLAG,
        f"--retention.resolution-raw={thanos.retention_raw}",
        f"--retention.resolution-5m={thanos.retention_5m}",
        f"--retention.resolution-1h={thanos.retention_1h}",
        "--delete-delay=48h",
    ]


def receive_hashrings(namespace: str, replicas: int) -> str:
    endpoints = [f"{RECEIVE}-{i}.{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}" for i in range(replicas)]
    return json.dumps([{"hashring": "default", "endpoints": endpoints}], sort_keys=True)


def receive_flags(namespace: str, replicas: int = 1) -> list[str]:
    return [
        "receive",
        *_COMMON_FLAGS,
        f"--grpc-address=0.0.0.0:{GRPC_PORT}",
        f"--remote-write.address=0.0.0.0:{REMOTE_WRITE_PORT}",
        "--tsdb.path=/var/thanos/receive",
        f"--tsdb.retention={RECEIVE_TSDB_RETENTION}",
        _OBJSTORE_FLAG,
        f'--label={RECEIVE_REPLICA_LABEL}="$(POD_NAME)"',
        f"--receive.local-endpoint=$(POD_NAME).{RECEIVE}.{namespace}.svc.cluster.local:{GRPC_PORT}",
        f"--receive.hashrings={receive_hashrings(namespace, replicas)}",
        "--receive.replication-factor=1",
    ]


class Thanos(pulumi.ComponentResource):
    """Thanos Query, Store Gateway, Compactor (and Receive) over the shared objstore Secret."""

    objstore_secret: k8s.core.v1.Secret
    query_url: pulumi.Output[str]

    def __init__(self, name: str, args: ThanosArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("dataops:monitoring:Thanos", name, None, opts)
        self._protect_volumes = args.protect  # not _protect: pulumi.Resource uses that name (children inherit it)
        thanos = args.thanos
        if not thanos.enabled or thanos.bucket is None:
            raise ValueError("Thanos component needs thanos.enabled and a bucket (settings validate both)")
        bucket = thanos.bucket
        child = pulumi.ResourceOptions(parent=self)
        ns = pulumi.Output.from_input(args.namespace)

        def meta(component: str, resource_name: Optional[str] = None) -> dict[str, Any]:
            return {"name": resource_name or component, "namespace": args.namespace, "labels": labels(component)}

        # ---- object storage: credentials only ever inside a secret Output ----------------
        document = pulumi.Output.secret(
            pulumi.Output.all(bucket.access_key, bucket.secret_key).apply(lambda keys: render_objstore(bucket, keys[0], keys[1]))
        )
        self.objstore_secret = k8s.core.v1.Secret(
            OBJSTORE_SECRET,
            metadata=meta("thanos", OBJSTORE_SECRET),
            type="Opaque",
            string_data={OBJSTORE_KEY: document},
            opts=child,
        )
        needs_bucket = pulumi.ResourceOptions(parent=self, depends_on=[self.objstore_secret])

        # ---- Query ------------------------------------------------------------------------
        self.query = k8s.apps.v1.Deployment(
            QUERY,
            metadata=meta(QUERY),
            spec={
                "replicas": thanos.query_replicas,
                "selector": {"matchLabels": _selector(QUERY)},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels(QUERY)},
                    "spec": _pod_spec(
                        QUERY,
                        _container(QUERY, thanos.image, ns.apply(lambda n: query_flags(n, thanos)), [_HTTP, _GRPC], []),
                        [],
                        spread=thanos.query_replicas > 1,
                    ),
                },
            },
            opts=child,
        )
        self._service(QUERY, meta, [
            {"name": "http", "port": QUERY_SERVICE_PORT, "targetPort": "http", "protocol": "TCP"},
            {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        ], headless=False)

        # ---- Store Gateway ------------------------------------------------------------------
        self.store = self._statefulset(
            STORE,
            meta,
            args.store_replicas,
            _container(STORE, thanos.image, store_flags(), [_HTTP, _GRPC],
                       [{"name": "data", "mountPath": "/var/thanos/store"}, _OBJSTORE_MOUNT]),
            args.storage_class,
            thanos.store_storage_size,
            needs_bucket,
            # Store replicas are independent readers: start them all at once.
            parallel=True,
        )
        # Headless: its SRV record (_grpc._tcp.thanos-store) gives Query every replica.
        self._service(STORE, meta, [
            {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
            {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        ], headless=True)

        # ---- Compactor ----------------------------------------------------------------------
        # EXACTLY one replica: the compactor is a singleton per bucket. Two compactors on one
        # bucket compact and delete the same blocks concurrently, producing overlapping blocks
        # that halt compaction (and can lose data); Thanos has no leader election for it.
        self.compact = self._statefulset(
            COMPACT,
            meta,
            1,
            _container(COMPACT, thanos.image, compact_flags(thanos), [_HTTP],
                       [{"name": "data", "mountPath": "/var/thanos/compact"}, _OBJSTORE_MOUNT]),
            args.storage_class,
            thanos.compact_storage_size,
            needs_bucket,
        )
        self._service(COMPACT, meta, [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}], headless=True)

        # ---- Receive (optional) ---------------------------------------------------------------
        components = [QUERY, STORE, COMPACT]
        self.receive: Optional[k8s.apps.v1.StatefulSet] = None
        if thanos.receive_enabled:
            pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
            self.receive = self._statefulset(
                RECEIVE,
                meta,
                1,
                _container(RECEIVE, thanos.image, ns.apply(receive_flags),
                           [_HTTP, _GRPC, {"name": "remote-write", "containerPort": REMOTE_WRITE_PORT, "protocol": "TCP"}],
                           [{"name": "data", "mountPath": "/var/thanos/receive"}, _OBJSTORE_MOUNT],
                           env=[pod_name]),
                args.storage_class,
                RECEIVE_STORAGE_SIZE,
                needs_bucket,
            )
            # Headless: SRV for Query, per-pod names for the hashring, A records for remote write.
            self._service(RECEIVE, meta, [
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "remote-write", "port": REMOTE_WRITE_PORT, "targetPort": "remote-write", "protocol": "TCP"},
            ], headless=True)
            components.append(RECEIVE)

        # ---- Disruption budgets (prod) ----------------------------------------------------------
        if args.pdb:
            for component, replicas in ((QUERY, thanos.query_replicas), (STORE, args.store_replicas)):
                if replicas < 2:
                    # minAvailable 1 of 1 would block every node drain forever.
                    continue
                k8s.policy.v1.PodDisruptionBudget(
                    f"{component}-pdb",
                    metadata=meta(component),
                    spec={"minAvailable": 1, "selector": {"matchLabels": _selector(component)}},
                    opts=child,
                )

        # ---- Ruler (operator-managed) ------------------------------------------------------------
        self.ruler: Optional[k8s.apiextensions.CustomResource] = None
        if ruler_enabled(thanos):
            self._ruler(args, ns)

        # ---- Monitoring of Thanos itself ---------------------------------------------------------
        for component in components:
            # job = Service name (thanos-query, ...): rules/thanos.rules.yaml matches on it.
            monitor(
                "ServiceMonitor",
                f"{component}-servicemonitor",
                args.namespace,
                {
                    "selector": {"matchLabels": _selector(component)},
                    "namespaceSelector": {"matchNames": [args.namespace]},
                    "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
                },
                self,
                args.operator,
                component,
            )
        self.rules = domain_rule("thanos", RuleTarget(args.namespace, args.operator, args.links), self, "thanos", DASHBOARD)

        self.query_url = ns.apply(query_url)
        self.register_outputs({"queryUrl": self.query_url, "objstoreSecret": self.objstore_secret.metadata.name})

    def _ruler(self, args: ThanosArgs, ns: pulumi.Output) -> None:
        """ThanosRuler CR and the ServiceMonitor of its operator-made Service."""
        thanos = args.thanos
        ruler_replicas = 2 if args.pdb else 1
        self.ruler = k8s.apiextensions.CustomResource(
            RULER,
            api_version="monitoring.coreos.com/v1",
            kind="ThanosRuler",
            metadata={"name": RULER_NAME, "namespace": args.namespace, "labels": labels(RULER)},
            spec=ns.apply(lambda n: ruler_spec(n, thanos, ruler_replicas, args.external_labels or {})),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.operator, self.objstore_secret]),
        )
        # Its /metrics: rule evaluation failures (PrometheusRuleEvaluationFailures reads the same
        # prometheus_rule_* names) and alert delivery; job = the governing Service's name.
        monitor(
            "ServiceMonitor",
            f"{RULER}-servicemonitor",
            args.namespace,
            {
                "selector": {"matchLabels": {"operated-thanos-ruler": "true"}},
                "namespaceSelector": {"matchNames": [args.namespace]},
                "endpoints": [{"port": "web", "path": "/metrics", "interval": "30s"}],
            },
            self,
            args.operator,
            RULER,
        )

    def _service(self, component: str, meta, ports: list[dict[str, Any]], headless: bool) -> k8s.core.v1.Service:
        spec: dict[str, Any] = {"selector": _selector(component), "ports": ports}
        if headless:
            spec["clusterIP"] = "None"
            # Peers (hashring, SRV discovery) must resolve before the pods are ready.
            spec["publishNotReadyAddresses"] = component == RECEIVE
        return k8s.core.v1.Service(component, metadata=meta(component), spec=spec, opts=pulumi.ResourceOptions(parent=self))

    def _statefulset(
        self,
        component: str,
        meta,
        replicas: int,
        container: dict[str, Any],
        storage_class: str,
        size: str,
        opts: pulumi.ResourceOptions,
        parallel: bool = False,
    ) -> k8s.apps.v1.StatefulSet:
        """A Thanos component with its own volume ("data") and the objstore Secret mounted."""
        spec: dict[str, Any] = {
            "replicas": replicas,
            "serviceName": component,
            "selector": {"matchLabels": _selector(component)},
            "template": {
                "metadata": {"labels": labels(component)},
                "spec": _pod_spec(component, container, [_OBJSTORE_VOLUME], spread=replicas > 1),
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
                }
            ],
        }
        if parallel:
            spec["podManagementPolicy"] = "Parallel"
        return k8s.apps.v1.StatefulSet(component, metadata=meta(component), spec=spec, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=self._protect_volumes)))
