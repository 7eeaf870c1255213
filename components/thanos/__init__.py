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

One module per part (``query``, ``store``, ``compact``, ``receive``, ``ruler``: its names, flags,
workload, Service, ServiceMonitor and PDB), built with ``common``; this module composes them.

Grafana's default datasource is :func:`thanos_datasource` (Thanos Query) when Thanos is enabled.
All flags are for the pinned Thanos v0.42 (``--store`` was removed in v0.38; ``--endpoint`` is
still supported there, though marked deprecated in favour of ``--endpoint.sd-config``).
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.prometheus_stack import Datasource, ThanosSidecar
from components.thanos.common import OBJSTORE_KEY, OBJSTORE_SECRET, SERVICE_ACCOUNT, Build
from components.thanos.compact import build_compact
from components.thanos.network import build_network_policies
from components.thanos.query import SIDECAR_SERVICE, build_query, query_url
from components.thanos.receive import build_receive, receive_remote_write_url
from components.thanos.ruler import build_ruler, ruler_enabled
from components.thanos.settings import BucketSettings, ThanosSettings
from components.thanos.store import build_store
from core.k8s import credentials_secret, labels
from core.rules import domain_rule, domain_rule_groups
from core.wiring import Wiring

# The names other components and the tests use.
__all__ = ["DASHBOARD", "OBJSTORE_KEY", "OBJSTORE_SECRET", "RECEIVE_RULE_GROUP", "RULER_RULE_GROUP", "SIDECAR_SERVICE", "Thanos", "ruler_enabled", "thanos_datasource", "thanos_rule_groups", "thanos_sidecar"]

# The dashboard this domain's alerts link to unless an alert names another.
DASHBOARD = "dataops-05-optimization"


# --------------------------------------------------------------------------------------
# What other components need (plain values, computed before they exist)
# --------------------------------------------------------------------------------------


def thanos_sidecar(settings: ThanosSettings, namespace: str) -> Optional[ThanosSidecar]:
    """The sidecar PrometheusStack configures: same Secret as the rest of Thanos, same image."""
    if not settings.enabled:
        return None
    if settings.receive_enabled:
        # Receive owns the uploads; the sidecar only serves recent data to Query.
        return ThanosSidecar(image=settings.image, objstore_secret_name=None, objstore_secret_key=None,
                             remote_write_url=receive_remote_write_url(namespace))
    return ThanosSidecar(image=settings.image, objstore_secret_name=OBJSTORE_SECRET, objstore_secret_key=OBJSTORE_KEY,
                         service_account_annotations=dict(settings.service_account_annotations))


def thanos_datasource(settings: ThanosSettings, namespace: str) -> Optional[Datasource]:
    """Grafana's default datasource when Thanos is on: Thanos Query (deduplicated, long-term)."""
    if not settings.enabled:
        return None
    return Datasource(name="Thanos", uid="thanos", url=query_url(namespace), prometheus_type="Thanos")


def objstore_config(bucket: BucketSettings, access_key: Optional[str], secret_key: Optional[str]) -> dict[str, Any]:
    """Thanos' S3 objstore document (docs/storage.md, s3.Config); works for AWS S3, MinIO and Ceph RGW.

    Without keys (a workload identity) ``access_key``/``secret_key`` are left out: objstore's S3
    client (thanos-io/objstore providers/s3/s3.go, NewBucketWithConfig: no access_key and no
    aws_sdk_auth) then chains the AWS environment variables, the AWS credentials file and
    minio-go's IAM provider, which reads AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN (what the EKS
    webhook injects for eks.amazonaws.com/role-arn: IRSA) or else the instance role
    (minio-go pkg/credentials/iam_aws.go). GCS and Azure Blob need objstore types this program
    does not write."""
    document = {
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
    if access_key is None:
        for key in ("access_key", "secret_key"):
            del document["config"][key]
    return document


def render_objstore(bucket: BucketSettings, access_key: Optional[str], secret_key: Optional[str]) -> str:
    return yaml.safe_dump(objstore_config(bucket, access_key, secret_key), sort_keys=True)


#: The group of rules/thanos.rules.yaml that watches the Ruler: deployed only with a Ruler
#: (its absent() alert would fire forever without one).
RULER_RULE_GROUP = "thanos-ruler"
#: The group that watches Receive: deployed only with Receive, for the same reason; with Receive
#: on it also replaces the sidecars' upload alert (the sidecars upload nothing then).
RECEIVE_RULE_GROUP = "thanos-receive"


def thanos_rule_groups(with_ruler: bool, with_receive: bool = False) -> list[dict[str, Any]]:
    left_out = {name for name, deployed in ((RULER_RULE_GROUP, with_ruler), (RECEIVE_RULE_GROUP, with_receive)) if not deployed}
    return [g for g in domain_rule_groups("thanos") if g["name"] not in left_out]


# --------------------------------------------------------------------------------------
# Component
# --------------------------------------------------------------------------------------


class Thanos(pulumi.ComponentResource):
    """Thanos Query, Store Gateway, Compactor, Receive and Ruler over the shared objstore Secret."""

    objstore_secret: k8s.core.v1.Secret
    query_url: pulumi.Output[str]

    def __init__(self, name: str, settings: ThanosSettings, wiring: Wiring):
        super().__init__("dataops:monitoring:Thanos", name, None, wiring.opts)
        thanos = settings
        if not thanos.enabled or thanos.bucket is None:
            raise ValueError("Thanos component needs thanos.enabled and a bucket (settings validate both)")
        bucket = thanos.bucket
        ns = pulumi.Output.from_input(wiring.namespace)

        # Object storage: credentials only ever inside a secret Output.
        if bucket.access_key is None:
            # A workload identity: no keys, the pods' ServiceAccount carries the cloud role.
            document = pulumi.Output.secret(render_objstore(bucket, None, None))
            k8s.core.v1.ServiceAccount(
                SERVICE_ACCOUNT,
                metadata={"name": SERVICE_ACCOUNT, "namespace": wiring.namespace, "labels": labels("thanos"), "annotations": dict(thanos.service_account_annotations)},
                automount_service_account_token=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            document = pulumi.Output.secret(
                pulumi.Output.all(bucket.access_key, bucket.secret_key).apply(lambda keys: render_objstore(bucket, keys[0], keys[1]))
            )
        self.objstore_secret = credentials_secret(OBJSTORE_SECRET, wiring.namespace, "thanos", {OBJSTORE_KEY: document}, self)
        build = Build(parent=self, thanos=thanos, wiring=wiring, namespace=ns, objstore_secret=self.objstore_secret)
        self.query = build_query(build)
        self.store = build_store(build)
        self.compact = build_compact(build)
        self.receive: Optional[k8s.apps.v1.StatefulSet] = build_receive(build) if thanos.receive_enabled else None
        self.ruler: Optional[k8s.apiextensions.CustomResource] = build_ruler(build) if ruler_enabled(thanos) else None
        self.network_policies = build_network_policies(build)
        self.rules = domain_rule("thanos", wiring, self, "thanos", DASHBOARD, groups=thanos_rule_groups(with_ruler=ruler_enabled(thanos), with_receive=thanos.receive_enabled))

        self.query_url = ns.apply(query_url)
        self.register_outputs({"queryUrl": self.query_url, "objstoreSecret": self.objstore_secret.metadata.name})
