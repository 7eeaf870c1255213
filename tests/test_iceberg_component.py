"""IcebergExporter component under the mock engine."""

from __future__ import annotations

from exporters.iceberg.credentials import CREDENTIAL_FILES
from tests.conftest import PROJECT, random_secret, with_secrets
from tools.mock_engine import Secret, leaked_secrets

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def env_of(run):
    container = run.one(DEPLOYMENT, "iceberg-exporter").inputs["spec"]["template"]["spec"]["containers"][0]
    return container, {e["name"]: e for e in container["env"]}


def test_deployment_is_hardened_and_configured_from_settings(prod_run):
    container, env = env_of(prod_run)
    assert container["image"] == "registry.dataops.internal/dataops/iceberg-exporter:0.1.0"  # Pulumi.prod.yaml
    assert env["ICEBERG_EXPORTER_CATALOG_TYPE"]["value"] == "hive"
    assert env["ICEBERG_EXPORTER_CATALOG_URI"]["value"] == "thrift://hive-metastore:9083"
    assert env["ICEBERG_EXPORTER_SMALL_FILE_BYTES"]["value"] == "33554432"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert "ICEBERG_EXPORTER_S3_ACCESS_KEY_ID" not in env  # no credentials configured


def test_service_and_monitor_match_the_pods(prod_run):
    deployment = prod_run.one(DEPLOYMENT, "iceberg-exporter").inputs
    service = prod_run.one("kubernetes:core/v1:Service", "iceberg-exporter").inputs["spec"]
    monitor = prod_run.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "iceberg-exporter")
    assert service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert monitor.inputs["spec"]["selector"]["matchLabels"] == service["selector"]
    assert monitor.inputs["spec"]["endpoints"][0]["port"] == "metrics"
    assert prod_run.one("kubernetes:helm.sh/v3:Release", "kube-prometheus-stack").urn in monitor.dependencies
    component = prod_run.one("dataops:monitoring:IcebergExporter", "iceberg-exporter")
    assert monitor.parent == component.urn


def test_credentials_travel_in_a_secret_mounted_as_files(run_stack):
    overrides = {**with_secrets(), f"{PROJECT}:icebergS3AccessKey": random_secret("ak"), f"{PROJECT}:icebergS3SecretKey": random_secret("sk"),
                 f"{PROJECT}:icebergS3Endpoint": "http://minio.minio.svc:9000"}
    run = run_stack("prod", overrides)
    secret = run.one("kubernetes:core/v1:Secret", "iceberg-exporter-credentials")
    assert isinstance(secret.inputs["stringData"], Secret)
    container, env = env_of(run)
    # No credential in the environment: the Secret is a read-only volume the exporter reads.
    assert not any("valueFrom" in e for e in env.values()) and "ICEBERG_EXPORTER_S3_ACCESS_KEY_ID" not in env
    directory = env["ICEBERG_EXPORTER_CREDENTIALS_DIR"]["value"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    assert mount["readOnly"] is True and "subPath" not in mount  # subPath mounts never see a rotation
    pod = run.one(DEPLOYMENT, "iceberg-exporter").inputs["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"] == {"secretName": "iceberg-exporter-credentials", "defaultMode": 0o440}
    assert set(secret.inputs["stringData"].value) == {"s3-access-key-id", "s3-secret-access-key"} <= set(CREDENTIAL_FILES)
    assert env["ICEBERG_EXPORTER_CATALOG_PROPERTY"]["value"] == "s3.endpoint=http://minio.minio.svc:9000"
    assert secret.urn in run.one(DEPLOYMENT, "iceberg-exporter").dependencies
    for reg in run.registrations:
        assert leaked_secrets(reg.inputs, run.secret_values) == [], reg.name


def test_exporter_can_be_disabled(run_stack):
    # Without the exporter the freshness SLO has no data: settings require dropping its tables too.
    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterEnabled": False, f"{PROJECT}:sloFreshnessTables": []})
    assert not run.by_type("dataops:monitoring:IcebergExporter")


def test_one_exporter_has_no_shard_flag(prod_run):
    _, env = env_of(prod_run)
    assert "ICEBERG_EXPORTER_SHARD" not in env
    assert [d.name for d in prod_run.by_type(DEPLOYMENT) if d.name.startswith("iceberg-exporter")] == ["iceberg-exporter"]


def test_shards_split_the_lake_with_one_scrape_target_each(run_stack):
    """n Deployments, each `--shard i/n` with its own selector; one Service and one ServiceMonitor over all."""
    from exporters.iceberg.sharding import shard_of

    run = run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterShards": 3})
    shards = sorted((d for d in run.by_type(DEPLOYMENT) if d.name.startswith("iceberg-exporter")), key=lambda d: d.name)
    assert [d.name for d in shards] == [f"iceberg-exporter-shard-{i}" for i in range(3)]
    service = run.one("kubernetes:core/v1:Service", "iceberg-exporter")
    selectors = []
    for index, deployment in enumerate(shards):
        spec = deployment.inputs["spec"]
        env = {e["name"]: e.get("value") for e in spec["template"]["spec"]["containers"][0]["env"]}
        assert env["ICEBERG_EXPORTER_SHARD"] == f"{index}/3"
        assert spec["replicas"] == 1
        selector = spec["selector"]["matchLabels"]
        assert spec["template"]["metadata"]["labels"].items() >= selector.items()
        # The Service reaches every shard's pods; each Deployment owns only its own.
        assert selector.items() >= service.inputs["spec"]["selector"].items()
        selectors.append(tuple(sorted(selector.items())))
    assert len(set(selectors)) == 3
    monitor = run.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "iceberg-exporter")
    assert monitor.inputs["spec"]["selector"]["matchLabels"] == service.inputs["spec"]["selector"]
    # Every table belongs to exactly one of the deployed shards (the exporter's own hash).
    tables = [("sales", f"t{i}") for i in range(200)]
    owners = [shard_of(db, t, 3) for db, t in tables]
    assert set(owners) == {0, 1, 2}


def test_shard_count_is_bounded(run_stack):
    import pytest

    from settings import SettingsError

    with pytest.raises(SettingsError) as err:
        run_stack("prod", {**with_secrets(), f"{PROJECT}:icebergExporterShards": 0})
    assert "icebergExporterShards" in str(err.value) and "pulumi config set dataops-monitoring:icebergExporterShards" in str(err.value)
