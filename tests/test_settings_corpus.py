"""Bad-input corpus: damaged and wrong stack files, each rendered the way `make render` does.

Every case is a whole stack file (text or bytes) handed to ``tools.render.main`` with
``--stack-file``. Each must end in exit code 2 with ONE message, ``Invalid stack
configuration (N problems):``, one ``  - `` line per problem, every line naming what is
wrong and a ``Fix:``; the expected fragments (key and bad value) must each be in a
different line, N must be exactly the number expected (no silent acceptance, no noise),
and no traceback may appear anywhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import pytest
import yaml

from settings import PROJECT, SettingsError
from tests.conftest import ROOT, random_secret
from tests.settings_util import load
from tools import render

P = PROJECT
STAGING = f"""config:
  {P}:environment: staging
  {P}:clusterName: dataops-corpus
  {P}:thanosEnabled: false
  {P}:icebergExporterImage: registry.example/iceberg-exporter:1.0.0
"""


def staging(*lines: str) -> str:
    """The valid staging base plus these config lines (each `key: value`, project prefix added)."""
    return STAGING + "".join(f"  {P}:{line}\n" for line in lines)


def raw(*lines: str) -> str:
    """The valid staging base plus these lines exactly as written (no prefix added)."""
    return STAGING + "".join(f"  {line}\n" for line in lines)


@dataclass(frozen=True)
class Case:
    id: str
    text: Union[str, bytes]
    expect: tuple[str, ...]  # one fragment per expected problem line (key and bad value)


def case(id: str, text: Union[str, bytes], *expect: str) -> pytest.param:
    return pytest.param(Case(id, text, expect), id=id)


SLO_OK = "1 - avg_over_time(up[${window}])"


def slo(**fields) -> str:
    """A `slos:` config line holding one SLO (YAML flow style)."""
    item = {"name": "custom", "objective": 0.99, "window": "30d", "errorRatio": SLO_OK, **fields}
    item = {k: v for k, v in item.items() if v is not None}
    return "slos: " + yaml.safe_dump([item], default_flow_style=True, width=10_000).strip()


CASES = [
    # ----------------------------------------------------------------- wrong types
    case("replicas-word", staging("prometheusReplicas: two"), "prometheusReplicas = 'two': not an integer"),
    case("replicas-float", staging("prometheusReplicas: 2.5"), "prometheusReplicas = '2.5': not an integer"),
    case("replicas-1e20", staging("prometheusReplicas: 1e20"), "prometheusReplicas = '1e20': not an integer"),
    case("replicas-1.0e+20", staging("prometheusReplicas: 1.0e+20"), "prometheusReplicas = '1e+20': not an integer"),
    case("replicas-huge-int", staging("prometheusReplicas: 100000000000000000000"), "prometheusReplicas = '100000000000000000000': must be between 1 and 10"),
    case("replicas-zero", staging("prometheusReplicas: 0"), "prometheusReplicas = '0': must be between 1 and 10"),
    case("replicas-negative", staging("prometheusReplicas: -3"), "prometheusReplicas = '-3': must be between 1 and 10"),
    case("bool-maybe", staging("thanosInsecure: maybe"), "thanosInsecure = 'maybe': not a boolean"),
    case("bool-as-number", staging("gitopsEnabled: 1"), "gitopsEnabled = '1': not a boolean"),
    case("control-plane-maybe", staging("controlPlaneMonitoring: maybe"), "controlPlaneMonitoring = 'maybe': not a boolean"),
    case("list-for-string", staging("namespace: [a, b]"), f"{P}:namespace = '[\"a\", \"b\"]'"),
    case("mapping-for-list", staging("sparkNamespaces: {a: 1}"), f"{P}:sparkNamespaces = {{'a': 1}}: must be a list"),
    case("string-for-list", staging("sparkNamespaces: spark-jobs"), f"{P}:sparkNamespaces = 'spark-jobs': not valid JSON"),
    case("list-of-numbers", staging("portalUrls: [1, 2]"), f"{P}:portalUrls = [1, 2]: must be a list of non-empty strings"),
    case("size-in-bytes-word", staging("icebergSmallFileBytes: 32MB"), "icebergSmallFileBytes = '32MB': not an integer"),
    case("slos-mapping", staging("slos: {name: x}"), f"{P}:slos must be a list"),
    case("slos-item-string", staging("slos: [availability]"), f"{P}:slos[0] = 'availability': must be an object"),
    # ----------------------------------------------------------------- bounds
    case("volume-999999Ei", staging("prometheusStorageSize: 999999Ei"), "prometheusStorageSize = '999999Ei': must be between 1Gi and 64Ti"),
    case("volume-grafana-10Ti", staging("grafanaStorageSize: 10Ti"), "grafanaStorageSize = '10Ti': must be between 1Gi and 1Ti"),
    case("scrape-10m", staging("prometheusScrapeInterval: 10m"), "prometheusScrapeInterval = '10m': must be between 5s and 2m"),
    case("evaluation-1s", staging("prometheusEvaluationInterval: 1s"), "prometheusEvaluationInterval = '1s': must be between 5s and 2m"),
    case("group-wait-1h", staging("alertGroupWait: 1h"), "alertGroupWait = '1h': must be between 1s and 5m"),
    case("repeat-30d", staging("alertRepeatInterval: 30d"), "alertRepeatInterval = '30d': must be between 5m and 7d"),
    case("retention-0s", staging("prometheusRetention: 0s"), "prometheusRetention = '0s': duration must be greater than zero"),
    case("retention-20y", staging("prometheusRetention: 20y"), "prometheusRetention = '20y': must be between 2h and 1y"),
    case("cpu-1000-cores", staging("prometheusCpuRequest: '1000'", "prometheusCpuLimit: '1000'"), "prometheusCpuRequest = '1000': must be between", "prometheusCpuLimit = '1000': must be between"),
    case("memory-milli", staging("prometheusMemoryRequest: 512m"), "prometheusMemoryRequest = '512m': 'm' means milli-bytes"),
    case("alertmanager-replicas-9", staging("alertmanagerReplicas: 9"), "alertmanagerReplicas = '9': must be between 1 and 7"),
    case("alertmanager-retention-30m", staging("alertmanagerRetention: 30m"), "alertmanagerRetention = '30m': must be between 1h and 1y"),
    case("thanos-query-replicas-50", staging("thanosQueryReplicas: 50"), "thanosQueryReplicas = '50': must be between 1 and 10"),
    case("iceberg-interval-5s", staging("icebergInterval: 5s"), "icebergInterval = '5s': must be between 30s and 1d"),
    case("small-file-bytes-0", staging("icebergSmallFileBytes: 0"), "icebergSmallFileBytes = '0': must be between 1024 and"),
    case("freshness-max-age-1m", staging("sloFreshnessMaxAge: 1m"), "sloFreshnessMaxAge = '1m': must be between 5m and 30d"),
    case("thanos-raw-24h", staging("thanosRetentionRaw: 24h"), "thanosRetentionRaw = '24h': must be between 40h and 10y (the compactor refuses"),
    case("thanos-5m-7d", staging("thanosRetention5m: 7d"), "thanosRetention5m = '7d': must be between 10d and 10y (the compactor refuses"),
    # ----------------------------------------------------------------- formats
    case("catalog-uri-empty", staging("icebergCatalogUri: ''"), "icebergCatalogUri = '': must be a URI with a scheme"),
    case("catalog-uri-bare-host", staging("icebergCatalogUri: hive-metastore:9083"), "icebergCatalogUri = 'hive-metastore:9083': must be a URI with a scheme"),
    case("catalog-uri-wrong-type", staging("icebergCatalogType: rest"), "icebergCatalogUri = 'thrift://hive-metastore:9083' is not a rest catalog URI"),
    case("catalog-uri-sql-thrift", staging("icebergCatalogType: sql", "icebergCatalogUri: thrift://hms:9083"), "icebergCatalogUri = 'thrift://hms:9083' is not a sql catalog URI"),
    case("admin-user-empty", staging("grafanaAdminUser: ''"), "grafanaAdminUser = '': must be 1-64 characters"),
    case("admin-user-space", staging("grafanaAdminUser: grafana admin"), "grafanaAdminUser = 'grafana admin': must be 1-64 characters"),
    case("trino-user-colon", staging("trinoUser: 'prom:etheus'"), "trinoUser = 'prom:etheus': must be 1-64 characters"),
    case("portal-url-no-scheme", staging("portalUrls: [portal.example.com/healthz]"), f"{P}:portalUrls[0] = 'portal.example.com/healthz': must be a http:// or https:// URL"),
    case("portal-url-ftp", staging("portalUrls: ['https://ok.example.com', 'ftp://files.example.com']"), f"{P}:portalUrls[1] = 'ftp://files.example.com': must be a http:// or https:// URL"),
    case("portal-url-twice", staging("portalUrls: ['https://a.example.com', 'https://a.example.com']"), f"{P}:portalUrls[1] = 'https://a.example.com': listed twice"),
    case("grafana-url-no-scheme", staging("grafanaUrl: grafana.dataops.internal"), "grafanaUrl = 'grafana.dataops.internal': must be an http(s) URL"),
    case("runbook-url-not-url", staging("runbookBaseUrl: docs/runbooks"), "runbookBaseUrl = 'docs/runbooks': must be an http(s) URL"),
    case("helm-repo-name", staging("helmRepository: prometheus-community"), "helmRepository = 'prometheus-community': must be a https:// or http:// or oci:// URL"),
    case("slack-channel-no-hash", staging("alertSlackChannelHigh: dataops-ops"), "alertSlackChannelHigh = 'dataops-ops': must be a Slack channel"),
    case("bucket-url", staging("thanosBucket: s3://dataops-thanos"), "thanosBucket = 's3://dataops-thanos': must be a bucket name"),
    case("endpoint-scheme", staging("thanosEndpoint: https://minio.example:9000/"), "thanosEndpoint = 'https://minio.example:9000/': give host[:port] without a scheme"),
    case("endpoint-bad-port", staging("thanosEndpoint: minio:99999"), "thanosEndpoint = 'minio:99999': port must be between 1 and 65535"),
    case("store-endpoint-no-port", staging("thanosStoreEndpoints: [thanos-query.other-cluster]"), f"{P}:thanosStoreEndpoints[0] = 'thanos-query.other-cluster': must be host:port"),
    case("objstore-cidr-host-bits", staging('thanosObjectStorageCidrs: ["10.20.0.1/16"]'), f"{P}:thanosObjectStorageCidrs[0] = '10.20.0.1/16': not a CIDR with the host bits zero"),
    case("api-server-cidr-no-prefix", staging('kubeApiServerCidrs: ["10.0.0.1"]'), f"{P}:kubeApiServerCidrs[0] = '10.0.0.1': must be a CIDR like 10.0.0.0/8"),
    case("region-spaces", staging("thanosRegion: us east 1"), "thanosRegion = 'us east 1': must be a region name"),
    case("cluster-name-underscore", staging("clusterName: Bad_Name").replace(f"  {P}:clusterName: dataops-corpus\n", ""), "clusterName = 'Bad_Name': must be a DNS-1123 label"),
    case("environment-shape", staging().replace("environment: staging", "environment: QA_1"), "environment = 'QA_1': must be lower-case letters, digits and '-'"),
    case("namespace-upper", staging("namespace: Monitoring"), "namespace = 'Monitoring': must be a DNS-1123 label"),
    case("image-latest", staging("thanosImage: quay.io/thanos/thanos:latest"), "thanosImage = 'quay.io/thanos/thanos:latest': must be an image reference pinned"),
    case("chart-location-registry-only", staging("kubePrometheusStackChart: oci://registry.example.com"), "kubePrometheusStackChart = 'oci://registry.example.com': an OCI reference names the chart itself"),
    case("chart-location-https", staging("kubePrometheusStackChart: https://charts.example.com/kps"), "kubePrometheusStackChart = 'https://charts.example.com/kps': must be a oci:// URL"),
    case("chart-location-space", staging("kubePrometheusStackChart: 'my charts/kps.tgz'"), "kubePrometheusStackChart = 'my charts/kps.tgz': must be an oci:// chart reference or a local chart path"),
    case("chart-range", staging("kubePrometheusStackVersion: ^88.0.0"), "kubePrometheusStackVersion = '^88.0.0': must be an exact chart version"),
    case("s3-endpoint-no-scheme", staging("icebergS3Endpoint: minio:9000"), "icebergS3Endpoint = 'minio:9000': must be a http:// or https:// URL"),
    case("warehouse-no-scheme", staging("icebergWarehouse: warehouse"), "icebergWarehouse = 'warehouse': must be a URI with a scheme"),
    case("freshness-table-no-db", staging("sloFreshnessTables: [orders]"), f"{P}:sloFreshnessTables[0] = 'orders': must be database.table"),
    case("spark-namespace-twice", staging("sparkNamespaces: [spark-jobs, spark-jobs]"), f"{P}:sparkNamespaces[1] = 'spark-jobs': listed twice"),
    case("airflow-namespace-bad", staging("airflowNamespaces: [Airflow_Prod]"), f"{P}:airflowNamespaces[0] = 'Airflow_Prod': must be a DNS-1123 label"),
    case("airflow-namespaces-empty", staging("airflowNamespaces: []"), f"{P}:airflowNamespaces is empty"),
    case("secret-in-plain-text", staging("trinoPassword: hunter2-plain"), f"{P}:trinoPassword is stored in plain text"),
    # ---------------------------------------------------------------- escape hatches
    case("thanos-resources-bad-quantity", staging("thanosStoreResources: {limits: {memory: 4GB}}"), f"{P}:thanosStoreResources.limits.memory = '4GB'"),
    case("thanos-resources-request-over-limit", staging("thanosQueryResources: {requests: {memory: 4Gi}}"), f"{P}:thanosQueryResources.requests.memory = '4Gi' is larger than"),
    case("thanos-resources-not-an-object", staging("thanosRulerResources: 1Gi"), f"{P}:thanosRulerResources = '1Gi': not valid JSON"),
    case("thanos-annotation-bad-key", staging("thanosServiceAccountAnnotations: {'bad key': x}"), f"{P}:thanosServiceAccountAnnotations[\"bad key\"] = 'x'"),
    case("grafana-ingress-class-without-ingress", staging("grafanaIngressClassName: nginx"), f"{P}:grafanaIngressClassName = 'nginx' is set but grafanaIngressEnabled is false"),
    case("grafana-ingress-tls-over-http", staging("grafanaIngressEnabled: true", "grafanaUrl: http://grafana.corpus.invalid", "grafanaIngressTlsSecret: grafana-tls"), f"{P}:grafanaIngressTlsSecret = 'grafana-tls' but {P}:grafanaUrl = 'http://grafana.corpus.invalid' is http"),
    case("chart-values-owned-key", staging("kubePrometheusStackValues: {alertmanager: {alertmanagerSpec: {replicas: 5}}}"), f"{P}:kubePrometheusStackValues.alertmanager.alertmanagerSpec.replicas = 5"),
    case("chart-values-a-list", staging("kubePrometheusStackValues: [grafana]"), f"{P}:kubePrometheusStackValues = ['grafana']: must be an object"),
    case("trino-namespaces-twice", staging("trinoNamespaces: [trino, trino]"), f"{P}:trinoNamespaces[1] = 'trino': listed twice"),
    case("trino-namespace-and-namespaces", staging("trinoNamespace: olap", "trinoNamespaces: [adhoc]"), f"{P}:trinoNamespace = 'olap' is set together with"),
    case("webhook-in-plain-text", staging("slackWebhookUrl: hooks.slack.com/services/T0/B0/x"), f"{P}:slackWebhookUrl is stored in plain text"),
    # ----------------------------------------------------------------- SLOs
    case("slo-promql-unclosed", staging(slo(errorRatio="1 - avg_over_time(up[${window}]")), "slos[0].errorRatio = '1 - avg_over_time(up[${window}]': not valid PromQL (unclosed '('"),
    case("slo-promql-unknown-function", staging(slo(errorRatio="1 - avg_over_tim(up[${window}])")), "not valid PromQL (unknown function 'avg_over_tim'"),
    case("slo-promql-sql", staging(slo(errorRatio="SELECT count(*) FROM errors WHERE age < ${window}")), "not valid PromQL (missing operator before 'count'"),
    case("slo-promql-dangling-operator", staging(slo(good="sum(rate(ok[${window}])) /", total="sum(rate(all[${window}]))", errorRatio=None)), "slos[0].good = 'sum(rate(ok[${window}])) /': not valid PromQL (expression ends with the operator '/')"),
    case("slo-promql-equals", staging(slo(errorRatio="1 - avg_over_time(up[${window}]) = 1")), "not valid PromQL ('=' outside a label matcher"),
    case("slo-no-window", staging(slo(errorRatio="1 - avg_over_time(up[1h])")), "slos[0].errorRatio = '1 - avg_over_time(up[1h])': must be PromQL containing ${window}"),
    case("slo-window-1d", staging(slo(window="1d")), "slos[0].window = '1d': must be between 3d (the longest burn-rate window) and 90d"),
    case("slo-window-1y", staging(slo(window="1y")), "slos[0].window = '1y': must be between 3d"),
    # 14.4 x (1 - 0.9) = 1.44: the 1h/5m page could never fire; 0.9306 is the smallest objective that works.
    case("slo-objective-page-impossible", staging(slo(objective=0.9)), "slos[0].objective = 0.9: over window 30d the 1h/5m burn alert (14.4x"),
    # A 100h window rounds its first tier to 8m: factor 15, so even 0.9306 is too low there.
    case("slo-objective-page-impossible-100h", staging(slo(objective=0.9306, window="100h")), "slos[0].objective = 0.9306: over window 100h the 8m/5m burn alert (15x"),
    case("slo-objective-percent", staging(slo(objective=99.9)), "slos[0].objective = 99.9: must be a ratio strictly between 0 and 1"),
    case("slo-unknown-field", staging(slo(target=0.9)), "slos[0].target is not a known SLO field"),
    case("slo-ratio-and-pair", staging(slo(good="sum(rate(ok[${window}]))", total="sum(rate(all[${window}]))")), "slos[0]: give either errorRatio, or both good and total"),
    case("slo-good-without-total", staging(slo(errorRatio=None, good="sum(rate(ok[${window}]))")), "slos[0]: give either errorRatio, or both good and total"),
    case("slo-name-twice", staging("slos: " + yaml.safe_dump([{"name": "a", "objective": 0.99, "errorRatio": SLO_OK}] * 2, default_flow_style=True, width=10_000).strip()), "slos[1].name = 'a': duplicate SLO name"),
    case("slo-name-list", staging(slo(name=["a"])), "slos[0].name = ['a']: must be a lower-case slug"),
    # ----------------------------------------------------------------- cross-field conflicts
    case("cpu-request-above-limit", staging("prometheusCpuRequest: '8'", "prometheusCpuLimit: '4'"), "prometheusCpuRequest = '8' is larger than"),
    case("repeat-below-group-interval", staging("alertGroupInterval: 2h", "alertRepeatInterval: 1h"), "alertRepeatInterval = '1h' (shorter than dataops-monitoring:alertGroupInterval = '2h')"),
    case("repeat-above-am-retention", staging("alertRepeatInterval: 6d"), "alertRepeatInterval = '6d' is longer than dataops-monitoring:alertmanagerRetention = '120h'"),
    case("thanos-5m-shorter-than-raw", staging("thanosRetentionRaw: 60d", "thanosRetention5m: 30d"), "thanosRetention5m = '30d' is shorter than dataops-monitoring:thanosRetentionRaw = '60d'"),
    case("thanos-1h-shorter-than-5m", staging("thanosRetention5m: 90d", "thanosRetention1h: 30d"), "thanosRetention1h = '30d' is shorter than dataops-monitoring:thanosRetention5m = '90d'"),
    case("receive-without-thanos", staging("thanosReceiveEnabled: true"), "thanosReceiveEnabled is true but thanosEnabled is false"),
    case("thanos-without-bucket", staging().replace("thanosEnabled: false", "thanosEnabled: true"), "thanosBucket is not set (Thanos is enabled)", "thanosEndpoint is not set (Thanos is enabled)"),
    case("iceberg-image-not-named", STAGING.replace(f"  {P}:icebergExporterImage: registry.example/iceberg-exporter:1.0.0\n", ""),
         "icebergExporterImage is not set: the Iceberg exporter runs the image you built and pushed (make image push-image REGISTRY=<registry>; "
         "Jenkins sets it to the commit's tag). Fix: pulumi config set dataops-monitoring:icebergExporterImage <registry>/iceberg-exporter:<tag> "
         "(or pulumi config set dataops-monitoring:icebergExporterEnabled false)"),
    case("freshness-without-exporter", staging("sloFreshnessTables: [sales.orders]", "icebergExporterEnabled: false"), "sloFreshnessTables = ['sales.orders'] needs the Iceberg exporter"),
    case("freshness-faster-than-collection", staging("sloFreshnessTables: [sales.orders]", "sloFreshnessMaxAge: 10m", "icebergInterval: 30m"), "sloFreshnessMaxAge = '10m' (shorter than dataops-monitoring:icebergInterval = '30m')"),
    case("prod-single-replicas", STAGING.replace("environment: staging", "environment: prod") + f"  {P}:kubeContext: prod\n  {P}:portalUrls: [https://portal.example.com]\n  {P}:prometheusReplicas: 1\n  {P}:alertmanagerReplicas: 1\n",
         "prometheusReplicas = 1: prod needs at least 2", "alertmanagerReplicas = 1: prod needs 3"),
    # ----------------------------------------------------------------- file-level damage
    case("yaml-unclosed-bracket", f"config:\n  {P}:environment: staging\n  {P}:sparkNamespaces: [a, b\n", "is not valid YAML"),
    case("yaml-tab-indent", f"config:\n\t{P}:environment: staging\n", "is not valid YAML on line 2"),
    case("yaml-bad-indent", f"config:\n  {P}:environment: staging\n {P}:clusterName: x\n", "is not valid YAML"),
    case("yaml-unhashable-key", "config:\n  [a, b]: c\n", "is not valid YAML"),
    case("not-utf8-latin1", STAGING.encode() + f"  {P}:grafanaAdminUser: ".encode() + "josé\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 6)"),
    case("not-utf8-binary", b"\x00\xff\xfe garbage", "is not UTF-8 text"),
    case("config-list", "config:\n  - environment: staging\n", "config: must be a mapping"),
    case("config-string", "config: staging\n", "config: must be a mapping"),
    case("document-list", "- config\n", "must be a mapping with a config: section, not a list"),
    case("config-misspelt", STAGING.replace("config:", "confg:"), "top-level key 'confg' is not a stack file section (did you mean config:?)"),
    case("extra-section", STAGING + "settings:\n  retention: 15d\n", "top-level key 'settings' is not a stack file section"),
    case("duplicate-key", raw(f"{P}:prometheusRetention: 3d", f"{P}:prometheusRetention: 7d"), f"key '{P}:prometheusRetention' appears twice (lines 6 and 7)"),
    case("duplicate-key-and-bad-value", raw(f"{P}:clusterName: again", f"{P}:prometheusReplicas: many"), f"key '{P}:clusterName' appears twice (lines 3 and 6)", "prometheusReplicas = 'many': not an integer"),
    case("bare-key", raw("namespace: monitoring"), f"config key 'namespace' has no project prefix. Fix: edit Pulumi.bare-key.yaml: rename it to {P}:namespace"),
    case("misspelt-prefix", raw("dataops-monitorng:namespace: monitoring"), f"dataops-monitorng:namespace is under 'dataops-monitorng', not '{P}'"),
    case("misspelt-prefix-and-key", raw("dataops-monitoring-prod:prometheusRetension: 7d"), f"under 'dataops-monitoring-prod', not '{P}': the program never reads it. Fix: pulumi config rm dataops-monitoring-prod:prometheusRetension && pulumi config set {P}:prometheusRetention"),
    case("foreign-namespace", raw("aws:region: us-east-1"), "aws:region belongs to no package this program uses"),
    case("empty-prefix", raw(":namespace: monitoring"), "config key ':namespace' has no project prefix"),
    case("key-without-value", raw(f"{P}:namespace:"), f"{P}:namespace has no value. Fix: pulumi config set {P}:namespace <value> (or pulumi config rm {P}:namespace)"),
    case("secure-with-extra-field", raw(f"{P}:trinoPassword: {{secure: v1:abc, value: x}}"), f"{P}:trinoPassword mixes 'secure:' with other fields"),
    case("secure-empty", raw(f"{P}:trinoPassword: {{secure: ''}}"), f"{P}:trinoPassword has an empty or non-text secure: value"),
    case("unknown-key", staging("prometheusRetension: 15d"), f"{P}:prometheusRetension is not a known setting. Did you mean {P}:prometheusRetention?"),
    # Outside the dev profile Thanos is on by default: a profile alone also lacks the cluster's name and the bucket.
    case("profile-only", f"config:\n  {P}:profile: staging\n", f"{P}:clusterName is not set", f"{P}:thanosBucket is not set", f"{P}:thanosEndpoint is not set",
         f"{P}:icebergExporterImage is not set"),
    case("profile-unknown", staging("profile: qa"), "profile = 'qa': must be one of"),
]


def render_file(tmp_path: Path, name: str, text: Union[str, bytes], capsys) -> tuple[int, str]:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        code = render.main(["corpus", "--stack-file", str(path), "--out", str(tmp_path / "out")])
    except BaseException as err:  # noqa: BLE001 - any escape is the failure this corpus hunts
        pytest.fail(f"render raised {type(err).__name__}: {err}")
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def problem_lines(output: str) -> list[str]:
    match = re.search(r"^Invalid stack configuration \((\d+) problems?\):\n((?:  - .*\n?)+)", output, re.MULTILINE)
    assert match, f"no 'Invalid stack configuration' message in:\n{output}"
    lines = [line[4:] for line in match.group(2).splitlines()]
    assert int(match.group(1)) == len(lines), output
    return lines


def test_the_corpus_has_at_least_60_distinct_files():
    texts = [c.values[0].text for c in CASES]
    assert len(CASES) >= 60 and len(set(texts)) == len(texts)
    assert len({c.values[0].id for c in CASES}) == len(CASES)


def test_the_valid_base_renders(tmp_path, capsys):
    """The base every case damages is itself fine: each case's problems are its own."""
    code, output = render_file(tmp_path, "base", STAGING, capsys)
    assert code == 0, output


@pytest.mark.parametrize("bad", CASES)
def test_bad_stack_file_gives_one_clear_error(bad: Case, tmp_path, capsys):
    code, output = render_file(tmp_path, bad.id, bad.text, capsys)
    assert "Traceback" not in output
    assert code == 2, output
    lines = problem_lines(output)
    assert len(lines) == len(bad.expect), "\n".join(lines)
    unmatched = list(lines)
    for fragment in bad.expect:
        hit = next((line for line in unmatched if fragment in line), None)
        assert hit is not None, f"{fragment!r} not in any remaining problem:\n" + "\n".join(lines)
        unmatched.remove(hit)
    for line in lines:
        # Each problem names the fix: a pulumi config command, or the edit for a damaged file.
        assert re.search(r"Fix: (pulumi config (set|rm) |edit Pulumi\.|check the file)", line), line
        if re.search(r"\w+\[\d+\]( =|\.)", line) and "pulumi config set" in line and "listed twice" not in line:
            assert "--path" in line, f"a list item is set with --path: {line}"


# The same way `make render` runs: a fresh interpreter, so import-time failures would show too.
@pytest.mark.parametrize("name", ["yaml-unclosed-bracket", "not-utf8-latin1", "config-list", "duplicate-key-and-bad-value", "misspelt-prefix"])
def test_make_render_process_prints_no_traceback(name, tmp_path):
    bad = next(c.values[0] for c in CASES if c.values[0].id == name)
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_bytes(bad.text if isinstance(bad.text, bytes) else bad.text.encode())
    proc = subprocess.run([sys.executable, "-m", "tools.render", "corpus", "--stack-file", str(path), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert all(fragment in proc.stderr for fragment in bad.expect), proc.stderr


def test_missing_stack_file_is_reported(tmp_path, capsys):
    assert render.main(["corpus", "--stack-file", str(tmp_path / "Pulumi.nothing.yaml")]) == 2
    assert "no stack file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Secrets: a stack file holds them encrypted (the offline render cannot read them), so their
# shape is checked where the program gets the value - without ever echoing it.
# ---------------------------------------------------------------------------------------

BASE = {"environment": "staging", "clusterName": "dataops-staging", "thanosEnabled": False}


def _problems(values: dict) -> list[str]:
    with pytest.raises(SettingsError) as excinfo:
        load(values)
    return excinfo.value.problems


def test_webhook_that_is_not_a_url_is_rejected_without_echoing_it():
    from tools.mock_engine import Secret

    value = "not-a-url-" + random_secret("x").value
    [problem] = _problems({**BASE, "slackWebhookUrl": Secret(value)})
    assert f"{P}:slackWebhookUrl = [secret, not shown]: must be a https:// URL" in problem
    assert value not in problem and f"pulumi config set --secret {P}:slackWebhookUrl" in problem


def test_routing_key_that_is_a_url_is_rejected_without_echoing_it():
    from tools.mock_engine import Secret

    value = "https://events.pagerduty.com/" + random_secret("pd").value
    [problem] = _problems({**BASE, "pagerdutyRoutingKey": Secret(value)})
    assert f"{P}:pagerdutyRoutingKey = [secret, not shown]" in problem and value not in problem


def test_half_an_s3_key_pair_is_rejected():
    [problem] = _problems({**BASE, "icebergS3AccessKey": random_secret("ak")})
    assert f"{P}:icebergS3AccessKey is set but {P}:icebergS3SecretKey is not" in problem
    assert f"pulumi config set --secret {P}:icebergS3SecretKey" in problem


def test_plain_text_secret_is_reported_once_even_where_no_domain_reads_it():
    """A feature turned off reads none of its secrets: the plain-text value is still a leak to report."""
    from pulumi.runtime import config as runtime_config

    from core.settings import Reader, setting

    schema = (setting("unusedToken", "string", "A token of a feature that is off.", optional=True, secret=True, example="<token>"),
              setting("usedToken", "string", "A token that is read.", optional=True, secret=True, example="<token>"))
    value = random_secret("plain").value
    runtime_config.set_all_config({f"{P}:unusedToken": value, f"{P}:usedToken": value}, [])
    reader = Reader(schema)
    reader.check_unknown_keys()
    reader.secret("usedToken", False)
    assert sorted(reader.problems) == [
        f"{P}:unusedToken is stored in plain text. Fix: pulumi config rm {P}:unusedToken && pulumi config set --secret {P}:unusedToken '<token>'",
        f"{P}:usedToken is stored in plain text. Fix: pulumi config rm {P}:usedToken && pulumi config set --secret {P}:usedToken '<token>'",
    ]
    assert value not in "\n".join(reader.problems)


def test_valid_secrets_pass():
    settings = load({**BASE, "slackWebhookUrl": random_secret("slackWebhookUrl"), "pagerdutyRoutingKey": random_secret("pd"),
                     "icebergS3AccessKey": random_secret("ak"), "icebergS3SecretKey": random_secret("sk")})
    assert settings.routing.slack_webhook_url is not None and settings.iceberg.s3_access_key is not None


# ---------------------------------------------------------------------------------------
# The PromQL check is a cheap pre-check; promtool is the parser. They must agree on the
# corpus: promtool rejects every expression the check rejects, and accepts the defaults.
# ---------------------------------------------------------------------------------------

BAD_PROMQL = [
    "1 - avg_over_time(up[${window}]",
    "1 - avg_over_tim(up[${window}])",
    "SELECT count(*) FROM errors WHERE age < ${window}",
    "sum(rate(ok[${window}])) /",
    "1 - avg_over_time(up[${window}]) = 1",
    "rate(up[])",
    "up{job=\"a\"",
    "up up",
    "sum(rate(x[${window}])))",
]


def _promtool_accepts(expr: str, tmp_path: Path) -> bool:
    from tests.live import tool

    text = expr.replace("${window}", "5m").replace("${step}", "1m")
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "corpus:check", "expr": text}]}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    return result.returncode == 0


def test_promql_check_and_promtool_agree(tmp_path):
    from components.slo.settings import DEFAULT_SLOS, _freshness_slo
    from core.promql import promql_problem

    good = [d[k] for d in (*DEFAULT_SLOS, _freshness_slo(("sales.orders", "marketing.events"), 3600)) for k in ("errorRatio", "good", "total") if k in d]
    good += ["sum by (job) (rate(x_total{code=~\"5..\"}[${window}])) / on(job) group_left sum by (job) (rate(x_total[${window}]))",
             "1 - avg_over_time((up == bool 1)[${window}:${step}])", "count(up offset 1h) < bool 3"]
    for expr in good:
        assert promql_problem(expr) is None, expr
        assert _promtool_accepts(expr, tmp_path), expr
    for expr in BAD_PROMQL:
        assert promql_problem(expr) is not None, expr
        assert not _promtool_accepts(expr, tmp_path), f"promtool accepts what the settings reject: {expr}"


# ---------------------------------------------------------------------------------------
# The render masks every secret whatever its length (a secret under four characters used to
# appear in clear: tools.mock_engine masked only substrings of four characters or more).
# ---------------------------------------------------------------------------------------


def test_short_secrets_are_masked_in_the_render():
    import json

    from tools.mock_engine import Secret, run_program, stack_config

    short = {"thanosAccessKey": "Zq9", "thanosSecretKey": "Wx", "trinoPassword": "Kv", "minioPrometheusToken": "J"}
    overrides = {f"{P}:{k}": Secret(v) for k, v in short.items()}
    config, keys = stack_config("staging", placeholder_secrets=True, overrides=overrides)
    run = run_program("staging", config, keys)
    document = render.render_document(run)
    text = json.dumps(document)
    for key, value in short.items():
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text), f"{key}'s value appears in the render"
    objstore = next(r for r in document if r["name"] == "thanos-objstore")
    assert all(v == "[secret]" for v in objstore["inputs"]["stringData"].values()), "a document holding a short key is masked whole"
    # Longer secrets are still masked in place: the rest of the document stays readable.
    config, keys = stack_config("staging", placeholder_secrets=True)
    objstore = next(r for r in render.render_document(run_program("staging", config, keys)) if r["name"] == "thanos-objstore")
    assert any("bucket: dataops-thanos-staging" in v and "[secret]" in v for v in objstore["inputs"]["stringData"].values())


def test_masking_rules():
    from tools.mock_engine import SECRET_MASK, Secret, leaked_secrets, masked

    secrets_ = frozenset({"ab", "a-much-longer-secret"})
    assert masked("ab", secrets_) == SECRET_MASK  # a leaf that is a secret, any length
    assert masked("user:ab@host", secrets_) == f"user:{SECRET_MASK}@host"  # a short secret as a token
    assert masked("abc tab", secrets_) == "abc tab"  # not a token: left alone outside secrets
    assert masked(Secret({"doc": "key: abc"}), secrets_) == {"doc": SECRET_MASK}  # inside a secret: the whole string
    assert masked("x a-much-longer-secret y", secrets_) == f"x {SECRET_MASK} y"
    assert leaked_secrets({"a": "user:ab@host", "b": Secret("ab"), "c": "abc"}, secrets_) == ["a"]


# ---------------------------------------------------------------------------------------
# Every key, present and future, with values wrong for most: never a traceback, never a
# problem without a fix. (A wider run, 15 values per key, found the two gaps fixed in cca5cee.)
# ---------------------------------------------------------------------------------------

ODD_VALUES = ("{a: [1]}", "'" + "x" * 300 + "'", "-1")


@pytest.mark.slow  # about 300 whole renders (every key x 3 values): `make test`, not `make test-fast`
def test_every_key_with_odd_values_fails_cleanly(tmp_path, capsys):
    from settings import SETTINGS_SCHEMA

    failures = []
    for setting in SETTINGS_SCHEMA:
        if setting.key in ("environment", "clusterName", "thanosEnabled"):
            continue  # in the base; covered by cases above
        for value in ODD_VALUES:
            code, output = render_file(tmp_path, "odd", staging(f"{setting.key}: {value}"), capsys)
            lines = [line for line in output.splitlines() if line.startswith("  - ")]
            if "Traceback" in output or code not in (0, 2) or (code == 2 and not lines) or any("Fix:" not in line for line in lines):
                failures.append(f"{setting.key}: {value[:20]} -> exit {code}\n{output[-600:]}")
    assert not failures, "\n\n".join(failures)
