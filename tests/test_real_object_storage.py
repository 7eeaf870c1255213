"""Object storage for real: an S3-compatible server (gofakes3 v1.2.0, MIT, built by `make tools`
from e2e/gomod/gofakes3; MinIO is AGPL and not used) on 127.0.0.1, and what we deploy against it.

(a) The Iceberg exporter (a real process, configured by the environment our component renders)
    reads the tables' metadata over S3 with pyiceberg's S3 FileIO (pyarrow), path-style, with the
    S3 keys given as files laid out as the kubelet mounts our Secret. The catalogued
    ``iceberg_table_*`` series carry the tables' real values; when the server stops (by PID) the
    catalog (SQLite) still lists, so ``iceberg_exporter_up`` stays 1 while every table's
    ``iceberg_table_collection_ok`` drops to 0 and ``iceberg_exporter_errors_total{kind="io"}``
    counts (what IcebergTableCollectionFailing reads), the last good values kept; when the server
    comes back on the same port the same process recovers and sees a new commit.
(b) Thanos v0.42.4 uploads a promtool-made block to it (`thanos tools bucket upload-blocks`) and
    reads it back (`thanos tools bucket ls` / `inspect`), through the objstore document our Thanos
    component renders (components.thanos.render_objstore) with a loopback endpoint.

The server runs with its filesystem backend: its objects survive a restart of the process, so
nothing is recreated when it comes back. gofakes3 does not check request signatures, so the keys
the exporter signs with are checked inside the exporter process instead (a recorder around
pyarrow's S3FileSystem); the same recorder refuses pyarrow's bucket-region lookup, which asks
AWS and so would leave loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from components.iceberg import CREDENTIALS_DIR, _env
from components.iceberg.settings import IcebergSettings
from components.thanos import render_objstore
from components.thanos.settings import BucketSettings
from tests.live import built_program, free_port, http_get, running, stop, tool, wait_until

pytestmark = [pytest.mark.live, pytest.mark.heavy]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Made per run (gofakes3 checks no signature; the exporter's S3 client is checked for them).
ACCESS_KEY = f"dataops-{secrets.token_hex(8)}"
SECRET_KEY = secrets.token_urlsafe(24)
SMALL_FILE_BYTES = 4096
# Not the AWS SDK's streamed, chunk-signed uploads (its default since 2025: no Content-Length,
# which gofakes3 refuses with 411). Only the test's writer (pyiceberg appends) uploads.
WRITER_ENV = {"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED", "AWS_EC2_METADATA_DISABLED": "true"}

# Runs the exporter as `python -m exporters.iceberg` does, with two recorders in pyarrow.fs: the
# S3FileSystem keyword arguments pyiceberg builds its S3 client with (endpoint, keys, region), and
# a refused resolve_s3_region (pyarrow asks AWS for a bucket's region: never leave loopback).
_EXPORTER_WITH_RECORDER = """
import json, os, runpy, sys
import pyarrow.fs as fs
record = os.environ.pop("DATAOPS_TEST_S3_RECORD")
real_s3 = fs.S3FileSystem
def note(entry):
    with open(record, "a") as out:
        out.write(json.dumps(entry) + "\\n")
def s3(**kwargs):
    note({"s3": {k: v for k, v in kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}})
    return real_s3(**kwargs)
def resolve_s3_region(bucket):
    note({"resolve_s3_region": bucket})
    raise OSError("the test refuses resolve_s3_region: it would ask AWS")
fs.S3FileSystem, fs.resolve_s3_region = s3, resolve_s3_region
sys.argv = ["exporters.iceberg", *sys.argv[1:]]
runpy.run_module("exporters.iceberg", run_name="__main__", alter_sys=True)
"""


def _gofakes3() -> str:
    binary = built_program("gofakes3")
    if binary is None:
        pytest.skip("gofakes3 is not built: `make tools` builds it where Go is installed")
    return binary


@contextlib.contextmanager
def s3_server(binary: str, data: Path, port: int, bucket: str, log: Path) -> Iterator[subprocess.Popen]:
    """gofakes3 on 127.0.0.1:``port`` with its filesystem backend in ``data`` (kept across restarts)."""
    args = [binary, "-backend", "fs", "-fs.path", str(data), "-fs.create", "-host", f"127.0.0.1:{port}", "-initialbucket", bucket]
    with running(args, log, f"http://127.0.0.1:{port}/", timeout=20) as proc:
        yield proc


# ------------------------------------------------------------------ (a) the Iceberg exporter


def mount_secret(directory: Path, data: dict[str, str]) -> None:
    """The Secret volume as the kubelet lays it out for our component (stringData values as
    written, no newline added; defaultMode 0440; each key a link through ..data)."""
    version = directory / "..2026_12_07_15_00_00.000000001"
    version.mkdir(parents=True)
    for name, value in data.items():
        (version / name).write_text(value)
        (version / name).chmod(0o440)
    (directory / "..data").symlink_to(version.name)
    for name in data:
        (directory / name).symlink_to(f"..data/{name}")


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = http_get(f"http://127.0.0.1:{port}/metrics").decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def table_values(samples: dict, database: str, table: str) -> dict[str, float]:
    labels = (("database", database), ("table", table))
    return {name: value for (name, lbls), value in samples.items() if lbls == labels}


def errors(samples: dict, kind: str) -> float:
    return samples.get(("iceberg_exporter_errors_total", (("kind", kind),)), 0.0)


@dataclass(frozen=True)
class Expected:
    size_bytes: int
    files: int
    records: int
    small_files: int
    snapshots: int
    last_update: float


def expected(table) -> Expected:
    """A table's values from pyiceberg's inspect tables (read over S3 too), not from its summary."""
    files = table.inspect.files().to_pylist()
    data = [f for f in files if f["content"] == 0]
    return Expected(
        size_bytes=sum(f["file_size_in_bytes"] for f in files),
        files=len(data),
        records=sum(f["record_count"] for f in data),
        small_files=sum(1 for f in data if f["file_size_in_bytes"] < SMALL_FILE_BYTES),
        snapshots=table.inspect.snapshots().num_rows,
        last_update=table.current_snapshot().timestamp_ms / 1000,
    )


def matches(values: dict[str, float], want: Expected) -> bool:
    return values.get("iceberg_table_collection_ok") == 1 and {
        "iceberg_table_size_bytes": values.get("iceberg_table_size_bytes"),
        "iceberg_table_files_count": values.get("iceberg_table_files_count"),
        "iceberg_table_records_count": values.get("iceberg_table_records_count"),
        "iceberg_table_small_files_count": values.get("iceberg_table_small_files_count"),
        "iceberg_table_snapshots_count": values.get("iceberg_table_snapshots_count"),
        "iceberg_table_delete_files_count": values.get("iceberg_table_delete_files_count"),
        "iceberg_table_last_update_timestamp": values.get("iceberg_table_last_update_timestamp"),
    } == {
        "iceberg_table_size_bytes": want.size_bytes,
        "iceberg_table_files_count": want.files,
        "iceberg_table_records_count": want.records,
        "iceberg_table_small_files_count": want.small_files,
        "iceberg_table_snapshots_count": want.snapshots,
        "iceberg_table_delete_files_count": 0,
        "iceberg_table_last_update_timestamp": want.last_update,
    }


def test_iceberg_exporter_reads_metadata_over_s3_and_survives_the_server_going_away(tmp_path, monkeypatch):
    from pyiceberg.catalog.sql import SqlCatalog

    from tests.iceberg_fixtures import SCHEMA, rows

    binary = _gofakes3()
    for name, value in WRITER_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    data = tmp_path / "s3"
    catalog_uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    warehouse = "s3://warehouse/lake"
    started = time.monotonic()

    with contextlib.ExitStack() as stack:
        server = stack.enter_context(s3_server(binary, data, port, "warehouse", tmp_path / "s3-1.log"))
        # The tables, written through pyiceberg's S3 FileIO to the server: a SqlCatalog on SQLite
        # whose warehouse is the bucket. The writer names its region: it never asks AWS.
        writer_props = {"s3.endpoint": endpoint, "s3.access-key-id": ACCESS_KEY, "s3.secret-access-key": SECRET_KEY, "s3.region": "us-east-1"}
        catalog = SqlCatalog("default", uri=catalog_uri, warehouse=warehouse, **writer_props)
        catalog.create_namespace("sales")
        events = catalog.create_table("sales.events", schema=SCHEMA)
        for start in range(3):
            events.append(rows(start * 10, 10))  # three small files
        orders = catalog.create_table("sales.orders", schema=SCHEMA)
        orders.append(rows(0, 200, payload_bytes=200))  # one file over the threshold
        want = {"events": expected(catalog.load_table("sales.events")), "orders": expected(catalog.load_table("sales.orders"))}
        assert want["events"].small_files == 3 and want["orders"].small_files == 0, want
        assert any((data / "buckets" / "warehouse" / "lake").rglob("*.metadata.json")), "no metadata object on the server"

        # The S3 keys as our component mounts them (Secret iceberg-exporter-credentials, its keys
        # s3-access-key-id / s3-secret-access-key), the environment as it renders it.
        credentials = tmp_path / "credentials"
        mount_secret(credentials, {"s3-access-key-id": ACCESS_KEY, "s3-secret-access-key": SECRET_KEY})
        settings = IcebergSettings(
            enabled=True, image=None, catalog_type="sql", catalog_uri=catalog_uri, warehouse=warehouse,
            interval="1s", small_file_bytes=SMALL_FILE_BYTES, s3_endpoint=endpoint, s3_access_key=None, s3_secret_key=None,
        )
        rendered = {e.name: e.value for e in _env(settings, has_credentials=True)}
        assert rendered["ICEBERG_EXPORTER_CREDENTIALS_DIR"] == CREDENTIALS_DIR
        assert rendered["ICEBERG_EXPORTER_CATALOG_PROPERTY"] == f"s3.endpoint={endpoint}"
        exporter_port = free_port()
        record = tmp_path / "s3-record.jsonl"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ICEBERG_EXPORTER_", "PYICEBERG_"))},
            **rendered,
            # Changed for the test: the mount point (a tmp dir, not /etc/...), the port.
            "ICEBERG_EXPORTER_CREDENTIALS_DIR": str(credentials),
            "ICEBERG_EXPORTER_PORT": str(exporter_port),
            "DATAOPS_TEST_S3_RECORD": str(record),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": str(REPO_ROOT),
        }
        # Changed for the test: loopback only; every table reloaded every cycle (the deployed 1h
        # full refresh would notice the outage at a table's next change or refresh instead);
        # short table timeout and backoff so the outage and the recovery show within seconds.
        flags = ["--listen-address", "127.0.0.1", "--full-refresh-interval", "0", "--table-timeout", "5s", "--max-backoff", "2s"]
        with open(tmp_path / "exporter.log", "wb") as log:
            exporter = subprocess.Popen(
                [sys.executable, "-c", _EXPORTER_WITH_RECORDER, *flags], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=tmp_path,
            )

        stack.callback(stop, exporter)

        def alive() -> None:
            assert exporter.poll() is None, f"the exporter exited ({exporter.returncode}):\n{(tmp_path / 'exporter.log').read_text()[-3000:]}"

        def both_tables_right():
            alive()
            samples = scrape(exporter_port)
            ok = all(matches(table_values(samples, "sales", t), want[t]) for t in want)
            return ok and samples

        try:
            samples = wait_until(both_tables_right, 60, "the exporter's iceberg_table_* series equal to the tables' values")
        except AssertionError:
            print((tmp_path / "exporter.log").read_text()[-3000:])
            raise
        print(f"object storage: exporter read both tables over S3 after {time.monotonic() - started:.1f} s")
        assert samples[("iceberg_exporter_up", ())] == 1
        assert errors(samples, "io") == 0 and errors(samples, "catalog") == 0

        entries = [json.loads(line) for line in record.read_text().splitlines()]
        clients = [e["s3"] for e in entries if "s3" in e]
        assert clients, "the exporter built no S3 client"
        # The keys from the mounted files, the endpoint the component renders, path-style.
        assert {(c["endpoint_override"], c["access_key"], c["secret_key"]) for c in clients} == {(endpoint, ACCESS_KEY, SECRET_KEY)}
        assert not any(c.get("force_virtual_addressing") for c in clients)
        lookups = [e["resolve_s3_region"] for e in entries if "resolve_s3_region" in e]
        assert not lookups, f"pyiceberg asked AWS for the region of bucket(s) {sorted(set(lookups))} (refused by the test)"

        # The server goes away (stopped by its PID).
        stop(server)
        io_before = errors(samples, "io")

        def failing():
            alive()
            s = scrape(exporter_port)
            oks = [table_values(s, "sales", t).get("iceberg_table_collection_ok") for t in want]
            return oks == [0, 0] and errors(s, "io") > io_before and s

        outage = wait_until(failing, 60, "iceberg_table_collection_ok 0 and io errors with the S3 server down")
        print(
            "object storage: S3 down: up", outage[("iceberg_exporter_up", ())],
            "errors", {k: errors(outage, k) for k in ("io", "catalog", "timeout", "other") if errors(outage, k)},
        )
        # The catalog (SQLite) still lists: not a catalog outage. The tables keep their last good
        # values (the catalog's description of collection_ok) and their age grows.
        assert outage[("iceberg_exporter_up", ())] == 1
        assert errors(outage, "catalog") == 0 and errors(outage, "other") == 0
        for t in want:
            kept = table_values(outage, "sales", t)
            assert kept["iceberg_table_records_count"] == want[t].records and kept["iceberg_table_size_bytes"] == want[t].size_bytes

        # Back on the same port with the same data (the fs backend kept the objects): the same
        # exporter process recovers, without a restart.
        pid = exporter.pid
        stack.enter_context(s3_server(binary, data, port, "warehouse", tmp_path / "s3-2.log"))
        recovered = wait_until(both_tables_right, 60, "the tables collected again after the S3 server came back")
        assert exporter.pid == pid and exporter.poll() is None
        io_after = errors(recovered, "io")
        # And it reads what changes after: a new commit, written through the server.
        events = catalog.load_table("sales.events")
        events.append(rows(100, 5))
        want["events"] = expected(catalog.load_table("sales.events"))
        assert want["events"].records == 35
        final = wait_until(both_tables_right, 60, "the new commit of sales.events in the exporter's series")
        assert errors(final, "io") == io_after, "io errors went on after the recovery"
        print(f"object storage: recovered, new commit seen; {errors(final, 'io'):.0f} io errors during the outage; "
              f"{time.monotonic() - started:.1f} s in all")


# ------------------------------------------------------------------ (b) Thanos


def json_documents(text: str) -> list[dict]:
    """The JSON documents `thanos tools bucket ls --output=json` prints one after the other."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        document, at = decoder.raw_decode(text, at)
        out.append(document)
    return out


def test_thanos_uploads_a_block_to_s3_and_reads_it_back(tmp_path):
    binary = _gofakes3()
    thanos = built_program("thanos")
    if thanos is None:
        pytest.skip("Thanos is not built: `make tools` builds it where Go is installed")
    promtool = tool("promtool")
    port = free_port()
    data = tmp_path / "s3"
    # A small block: one series, a sample a minute for an hour, two hours ago.
    now_s = int(time.time()) // 3600 * 3600 - 7200
    lines = ["# HELP dataops_test_s3 samples for the object storage test", "# TYPE dataops_test_s3 gauge"]
    lines += [f'dataops_test_s3{{source="promtool"}} {i} {now_s + 60 * i}' for i in range(60)]
    (tmp_path / "series.om").write_text("\n".join(lines + ["# EOF"]) + "\n")
    blocks = tmp_path / "blocks"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "series.om"), str(blocks)], check=True, capture_output=True, timeout=120)
    (block,) = [p for p in blocks.iterdir() if (p / "meta.json").exists()]

    # The objstore document exactly as our Thanos component renders it, pointed at the server.
    bucket = BucketSettings(bucket="thanos", endpoint=f"127.0.0.1:{port}", region="us-east-1", insecure=True, access_key=None, secret_key=None)
    objstore = tmp_path / "objstore.yml"
    objstore.write_text(render_objstore(bucket, ACCESS_KEY, SECRET_KEY))
    config = ["--objstore.config-file", str(objstore)]
    labels = ["--label=cluster=\"dataops-test\"", "--label=prometheus_replica=\"prometheus-0\""]

    with s3_server(binary, data, port, "thanos", tmp_path / "s3.log"):
        upload = subprocess.run([thanos, "tools", "bucket", "upload-blocks", *config, f"--path={blocks}", *labels], capture_output=True, text=True, timeout=120)
        assert upload.returncode == 0, upload.stderr[-3000:]
        stored = data / "buckets" / "thanos" / block.name
        assert (stored / "meta.json").exists() and (stored / "index").exists() and any((stored / "chunks").iterdir()), list(data.rglob("*"))

        listed = subprocess.run([thanos, "tools", "bucket", "ls", *config, "--output=json"], capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr[-3000:]
        metas = json_documents(listed.stdout)
        assert [m["ulid"] for m in metas] == [block.name], listed.stdout
        (meta,) = metas
        assert meta["thanos"]["labels"] == {"cluster": "dataops-test", "prometheus_replica": "prometheus-0"}
        assert meta["stats"]["numSamples"] == 60 and meta["stats"]["numSeries"] == 1
        assert meta["minTime"] == now_s * 1000 and meta["maxTime"] == (now_s + 59 * 60) * 1000 + 1

        # And the blocks' contents read back: Thanos' own verifier over the bucket's index.
        verify = subprocess.run([thanos, "tools", "bucket", "verify", *config, "--issues=index_known_issues"], capture_output=True, text=True, timeout=120)
        assert verify.returncode == 0, verify.stderr[-3000:]
        print(f"object storage: thanos uploaded block {block.name} to S3 and listed it back ({meta['stats']['numSamples']} samples)")
