"""The Iceberg exporter's credentials as files (a mounted Secret): read at every catalog build,
a rotated Secret (the kubelet's ..data swap) gives a new catalog with the new keys without a
restart, and the values win over the credential environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from exporters.iceberg.catalog_access import CatalogFactory, CatalogProvider
from exporters.iceberg.config import ConfigError, load_config
from exporters.iceberg.credentials import CredentialFiles, read_credential_files


def mount_secret(directory: Path, data: dict[str, str], version: int) -> None:
    """Lay ``data`` out as the kubelet does for a Secret volume: files linked through ..data,
    which an update swaps atomically to a new timestamped folder."""
    target = directory / f"..2026_12_07_{version:02d}"
    target.mkdir(parents=True)
    for name, value in data.items():
        (target / name).write_text(value + "\n")
    link = directory / "..data_tmp"
    link.symlink_to(target.name)
    os.replace(link, directory / "..data")
    for name in data:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def keys() -> dict[str, str]:
    return {"s3-access-key-id": f"test-ak-{secrets.token_hex(6)}", "s3-secret-access-key": f"test-sk-{secrets.token_hex(6)}"}


def test_files_give_the_catalog_properties_and_win_over_the_environment(tmp_path):
    first = keys()
    mount_secret(tmp_path / "creds", first, 1)
    assert read_credential_files(str(tmp_path / "creds")) == {"s3.access-key-id": first["s3-access-key-id"], "s3.secret-access-key": first["s3-secret-access-key"]}
    env = {"ICEBERG_EXPORTER_CATALOG_TYPE": "hive", "HIVE_METASTORE_URI": "thrift://hive-metastore:9083",
           "ICEBERG_EXPORTER_CREDENTIALS_DIR": str(tmp_path / "creds"), "ICEBERG_EXPORTER_S3_ACCESS_KEY_ID": "test-from-env"}
    cfg = load_config([], env=env)
    assert cfg.credentials_dir == str(tmp_path / "creds")
    props = cfg.catalog_props(env)
    assert props["s3.access-key-id"] == first["s3-access-key-id"] and props["s3.secret-access-key"] == first["s3-secret-access-key"]
    assert read_credential_files(str(tmp_path)) == {}  # no file: nothing, not an error


def test_a_credentials_dir_that_is_not_a_directory_is_a_config_problem(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(["--catalog-type", "hive", "--catalog-uri", "thrift://hms:9083", "--credentials-dir", str(tmp_path / "missing")], env={})
    assert "--credentials-dir / ICEBERG_EXPORTER_CREDENTIALS_DIR" in str(err.value) and "is not a directory" in str(err.value)


def test_a_rotated_secret_reaches_the_next_catalog_without_a_restart(tmp_path):
    """A real pyiceberg SQL catalog: its properties (what its FileIO signs S3 requests with)
    carry the keys of the files at build time; after the rotation the provider builds a new one."""
    from pyiceberg.catalog.sql import SqlCatalog

    db = tmp_path / "catalog.db"
    SqlCatalog("default", uri=f"sqlite:///{db}", warehouse=(tmp_path / "wh").as_uri(), init_catalog_tables="true").engine.dispose()
    creds = tmp_path / "creds"
    first, second = keys(), keys()
    mount_secret(creds, first, 1)
    cfg = load_config(["--catalog-uri", f"sqlite:///{db}", "--warehouse", (tmp_path / "wh").as_uri(), "--credentials-dir", str(creds)], env={})
    provider = CatalogProvider(CatalogFactory(cfg))
    catalog = provider.get()
    assert catalog.properties["s3.access-key-id"] == first["s3-access-key-id"]
    assert provider.get() is catalog  # unchanged files: the same catalog, no rebuild per use
    before = CredentialFiles(str(creds)).fingerprint()
    mount_secret(creds, second, 2)
    assert CredentialFiles(str(creds)).fingerprint() != before
    rotated = provider.get()
    assert rotated is not catalog
    assert rotated.properties["s3.access-key-id"] == second["s3-access-key-id"]
    assert rotated.properties["s3.secret-access-key"] == second["s3-secret-access-key"]
    assert provider.get() is rotated
    provider.invalidate()
