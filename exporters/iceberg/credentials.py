"""Credentials from files: a directory holding one file per credential, as a mounted
Kubernetes Secret lays it out (``--credentials-dir`` / ``ICEBERG_EXPORTER_CREDENTIALS_DIR``).

The files are read whenever a catalog is built, and :meth:`CredentialFiles.fingerprint`
changes when the kubelet swaps in a rotated Secret (it replaces the files' target through
the ``..data`` link), so the catalog provider builds a new catalog, and pyiceberg a new
FileIO with the new keys, on the next use: rotation without a restart. Nothing is cached
in between, and the values never reach a log line.
"""

from __future__ import annotations

import os
from pathlib import Path

# File name (the Secret's key) -> pyiceberg catalog property.
CREDENTIAL_FILES = {
    "s3-access-key-id": "s3.access-key-id",
    "s3-secret-access-key": "s3.secret-access-key",
    "s3-session-token": "s3.session-token",
    "rest-token": "token",
    "rest-credential": "credential",
}


def read_credential_files(directory: str) -> dict[str, str]:
    """Catalog properties from the credential files present in ``directory`` (trailing newline dropped)."""
    props: dict[str, str] = {}
    for name, key in CREDENTIAL_FILES.items():
        path = Path(directory) / name
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            continue
        if value:
            props[key] = value
    return props


class CredentialFiles:
    """Watches the credential files of ``directory`` for a change (a rotated Secret)."""

    def __init__(self, directory: str):
        self.directory = directory

    def fingerprint(self) -> tuple:
        found = []
        for name in sorted(CREDENTIAL_FILES):
            path = os.path.join(self.directory, name)
            try:
                stat = os.stat(path)  # follows the Secret volume's links to the current version
            except FileNotFoundError:
                continue
            found.append((name, os.path.realpath(path), stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(found)
