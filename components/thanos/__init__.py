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

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from core.k8s import labels, monitor
from core.rules import domain_rule, domain_rule_groups
from core.wiring import Wiring
from components.prometheus_stack import Datasource, ThanosSidecar
from components.thanos.settings import BucketSettings, ThanosSettings
from components.thanos.workloads import (  # noqa: F401 - OBJSTORE_*, SIDECAR_SERVICE are part of the package's API
    COMPACT,
    GRPC_PORT,
    HTTP_PORT,
    OBJSTORE_KEY,
    OBJSTORE_SECRET,
    QUERY,
    QUERY_SERVICE_PORT,
    RECEIVE,
    RECEIVE_STORAGE_SIZE,
    REMOTE_WRITE_PORT,
    RULER,
    RULER_NAME,
    SIDECAR_SERVICE,
    STORE,
    _GRPC,
    _HTTP,
    _OBJSTORE_MOUNT,
    _OBJSTORE_VOLUME,
    _container,
    _pod_spec,
    _selector,
    compact_flags,
    query_flags,
    receive_flags,
    ruler_enabled,
    ruler_spec,
    store_flags,
)

# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-05-optimization"


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


#: The group of rules/thanos.rules.yaml that watches the Ruler: deployed only with a Ruler
#: (its absent() alert would fire forever without one).
RULER_RULE_GROUP = "thanos-ruler"


def thanos_rule_groups(with_ruler: bool) -> list[dict[str, Any]]:
    return [g for g in domain_rule_groups("thanos") if with_ruler or g["name"] != RULER_RULE_GROUP]


# --------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------


class Thanos(pulumi.ComponentResource):
    """Thanos Query, Store Gateway, Compactor (and Receive) over the shared objstore Secret."""

    objstore_secret: k8s.core.v1.Secret
    query_url: pulumi.Output[str]

    def __init__(self, name: str, settings: ThanosSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:Thanos", name, None, wiring.opts)
        self._protect_volumes = wiring.protect  # not _protect: pulumi.Resource uses that name (children inherit it)
        thanos = settings
        if not thanos.enabled or thanos.bucket is None:
            raise ValueError("Thanos component needs thanos.enabled and a bucket (settings validate both)")
        bucket = thanos.bucket
        child = pulumi.ResourceOptions(parent=self)
        ns = pulumi.Output.from_input(wiring.namespace)

        def meta(component: str, resource_name: Optional[str] = None) -> dict[str, Any]:
            return {"name": resource_name or component, "namespace": wiring.namespace, "labels": labels(component)}

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
            thanos.store_replicas,
            _container(STORE, thanos.image, store_flags(), [_HTTP, _GRPC],
                       [{"name": "data", "mountPath": "/var/thanos/store"}, _OBJSTORE_MOUNT]),
            wiring.storage_class,
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
            wiring.storage_class,
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
                wiring.storage_class,
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
        if thanos.disruption_budgets:
            for component, replicas in ((QUERY, thanos.query_replicas), (STORE, thanos.store_replicas)):
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
            self._ruler(thanos, wiring, ns)

        # ---- Monitoring of Thanos itself ---------------------------------------------------------
        for component in components:
            # job = Service name (thanos-query, ...): rules/thanos.rules.yaml matches on it.
            monitor(
                "ServiceMonitor",
                f"{component}-servicemonitor",
                wiring.namespace,
                {
                    "selector": {"matchLabels": _selector(component)},
                    "namespaceSelector": {"matchNames": [wiring.namespace]},
                    "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
                },
                self,
                wiring.operator,
                component,
            )
        self.rules = domain_rule(
            "thanos",
            wiring,
            self,
            "thanos",
            DASHBOARD,
            groups=thanos_rule_groups(with_ruler=ruler_enabled(thanos)),
        )

        self.query_url = ns.apply(query_url)
        self.register_outputs({"queryUrl": self.query_url, "objstoreSecret": self.objstore_secret.metadata.name})

    def _ruler(self, thanos: ThanosSettings, wiring: Wiring, ns: pulumi.Output) -> None:
        """ThanosRuler CR and the ServiceMonitor of its operator-made Service."""
        ruler_replicas = 2 if thanos.disruption_budgets else 1
        self.ruler = k8s.apiextensions.CustomResource(
            RULER,
            api_version="monitoring.coreos.com/v1",
            kind="ThanosRuler",
            metadata={"name": RULER_NAME, "namespace": wiring.namespace, "labels": labels(RULER)},
            spec=ns.apply(lambda n: ruler_spec(n, thanos, ruler_replicas, dict(wiring.external_labels))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[wiring.operator, self.objstore_secret]),
        )
        # Its /metrics: rule evaluation failures (PrometheusRuleEvaluationFailures reads the same
        # prometheus_rule_* names) and alert delivery; job = the governing Service's name.
        monitor(
            "ServiceMonitor",
            f"{RULER}-servicemonitor",
            wiring.namespace,
            {
                "selector": {"matchLabels": {"operated-thanos-ruler": "true"}},
                "namespaceSelector": {"matchNames": [wiring.namespace]},
                "endpoints": [{"port": "web", "path": "/metrics", "interval": "30s"}],
            },
            self,
            wiring.operator,
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
