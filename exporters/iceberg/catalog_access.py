"""Catalog access for the collector: one catalog client reused across cycles, a guard that
notices a SQLite catalog file deleted, replaced or unreadable, and the error kinds of
``iceberg_exporter_errors_total``."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from typing import Any, Callable
from urllib.parse import quote

from exporters.iceberg.config import Config
from exporters.iceberg.credentials import CredentialFiles
from exporters.iceberg.runner import CallTimeout

log = logging.getLogger(__name__)


class CatalogUnavailable(Exception):
    """The catalog cannot be used at all, e.g. its SQLite file is missing, unreadable or
    not a regular file. Counted as error kind ``catalog``."""


def _exception_types(module: str, *names: str) -> tuple[type, ...]:
    try:
        mod = __import__(module, fromlist=list(names))
    except ImportError:  # pragma: no cover - optional client libraries
        return ()
    return tuple(t for t in (getattr(mod, n, None) for n in names) if isinstance(t, type))


def classify_error(exc: BaseException) -> str:
    """Map an exception to an error kind of ``iceberg_exporter_errors_total``.

    The kinds are those of :data:`ERROR_KINDS` (documented in
    ``docs/metrics/iceberg-exporter.yaml``). Order matters: pyiceberg wraps a corrupt
    metadata file's parse error in its own ``ValidationError`` (not a ``ValueError``),
    and the catalog clients' errors (SQLAlchemy, REST, thrift) are not ``OSError``.
    """
    if isinstance(exc, CallTimeout):
        return "timeout"
    if isinstance(exc, CatalogUnavailable):
        return "catalog"
    if isinstance(exc, _exception_types("pyiceberg.exceptions", "NoSuchTableError", "NoSuchNamespaceError")):
        return "not_found"
    if isinstance(exc, _exception_types("pyiceberg.exceptions", "ValidationError", "ValidationException")):
        return "invalid_metadata"  # metadata JSON read but not parseable / not valid
    if isinstance(exc, _exception_types("pydantic", "ValidationError")):
        return "invalid_metadata"
    catalog_errors = (
        _exception_types("sqlalchemy.exc", "SQLAlchemyError")
        + _exception_types("pyiceberg.exceptions", "RESTError", "OAuthError")
        + _exception_types("thrift.Thrift", "TException")
    )
    if isinstance(exc, catalog_errors):
        return "catalog"  # the catalog failed while answering (SQL, REST, Hive metastore)
    if isinstance(exc, OSError):  # FileNotFoundError, PermissionError, IsADirectoryError, ...
        return "io"
    if isinstance(exc, (ValueError, KeyError, EOFError, UnicodeDecodeError)):
        return "invalid_metadata"  # json.JSONDecodeError, avro decoding, missing fields
    return "other"


class SqliteFileGuard:
    """Watches the file of a SQLite catalog.

    SQLAlchemy pools its SQLite connections, and an open connection keeps reading the
    file it opened: with the file deleted, made unreadable or replaced, the pooled
    connections would go on answering from the old inode and nothing would notice.
    :meth:`fingerprint` is called before every use of a catalog: it raises
    :class:`CatalogUnavailable` when the file is missing, not a regular file or not
    readable, and returns (device, inode), so that a replaced file makes the caller
    build a new catalog (new connections) instead of reusing the pooled ones.
    """

    def __init__(self, path: str):
        self.path = path

    def fingerprint(self) -> tuple[int, int]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise CatalogUnavailable(f"SQLite catalog file {self.path} does not exist") from None
        except OSError as exc:
            raise CatalogUnavailable(f"SQLite catalog file {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise CatalogUnavailable(f"SQLite catalog file {self.path} is not a regular file")
        if not os.access(self.path, os.R_OK):
            raise CatalogUnavailable(f"SQLite catalog file {self.path} is not readable")
        return (st.st_dev, st.st_ino)


def _dispose(catalog: Any) -> None:
    """Close a catalog's pooled connections (SqlCatalog's engine), if it has any."""
    engine = getattr(catalog, "engine", None)
    if engine is not None:
        try:
            engine.dispose()
        except Exception:  # noqa: BLE001 - best effort
            log.debug("disposing a catalog engine failed", exc_info=True)


class CatalogProvider:
    """One pyiceberg catalog per thread (the Hive client is not thread-safe).

    :meth:`invalidate` makes every thread build a fresh catalog on its next use,
    which is what happens after a catalog-level failure; the old catalogs' pooled
    connections are closed. A factory with a ``guard`` (see :func:`catalog_factory`)
    is checked before every use: a missing or unreadable SQLite file raises
    :class:`CatalogUnavailable`, a replaced one gets a fresh catalog.
    """

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._guard: SqliteFileGuard | None = getattr(factory, "guard", None)
        self._credentials: CredentialFiles | None = getattr(factory, "credentials", None)
        self._local = threading.local()
        self._generation = 0
        self._built_lock = threading.Lock()
        self._built: list[Any] = []  # every live catalog, to dispose them on invalidate()
        #: monotonic time of the last get(): collection progress, for the exporter's /healthz
        self.last_used = 0.0

    def _drop_local(self) -> None:
        catalog = getattr(self._local, "catalog", None)
        self._local.catalog = None
        if catalog is not None:
            with self._built_lock:
                self._built = [c for c in self._built if c is not catalog]
            _dispose(catalog)

    def get(self) -> Any:
        self.last_used = time.monotonic()
        try:
            fingerprint = self._guard.fingerprint() if self._guard is not None else None
        except CatalogUnavailable:
            self._drop_local()  # release the connections to the lost file
            raise
        if self._credentials is not None:
            # Rotated credential files: a new catalog (and FileIO) reads the new keys.
            fingerprint = (fingerprint, self._credentials.fingerprint())
        local = self._local
        gen = self._generation
        if (
            getattr(local, "catalog", None) is None
            or getattr(local, "generation", None) != gen
            or getattr(local, "fingerprint", None) != fingerprint
        ):
            self._drop_local()
            catalog = self._factory()
            with self._built_lock:
                self._built.append(catalog)
            local.catalog, local.generation, local.fingerprint = catalog, gen, fingerprint
        return local.catalog

    def invalidate(self) -> None:
        self._generation += 1
        with self._built_lock:
            old, self._built = self._built, []
        for catalog in old:  # a thread still using one gets a closed pool: SQLAlchemy reconnects
            _dispose(catalog)


def sqlite_catalog_path(uri: str) -> str | None:
    """The file of a ``sqlite:///path`` catalog URI, or None (not SQLite, in-memory, URI filename)."""
    try:
        from sqlalchemy.engine import make_url

        url = make_url(uri)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: not ours to check
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if str(url.query.get("uri", "")).lower() in ("true", "1") or url.database.startswith("file:"):
        return None  # an explicit SQLite URI filename: its mode is the user's choice
    return os.path.abspath(url.database)


def _sqlite_read_write_uri(uri: str, path: str) -> str:
    """``uri`` opening ``path`` with SQLite's ``mode=rw``: never creates a missing file."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    query = {**url.query, "mode": "rw", "uri": "true"}
    return url.set(database="file:" + quote(path, safe="/"), query=query).render_as_string(hide_password=False)


class CatalogFactory:
    """Builds the configured pyiceberg catalog; ``guard`` watches a SQLite catalog's file.

    For a ``sqlite:///path`` URI the catalog is opened with SQLite's ``mode=rw`` and
    ``init_catalog_tables=false``: a missing file is an error (kind ``catalog``), never
    created; the embedded local default is created once at start-up by the app.
    """

    def __init__(self, config: Config):
        self.config = config
        path = sqlite_catalog_path(config.catalog_uri) if config.catalog_type == "sql" else None
        self.path = path
        self.guard = SqliteFileGuard(path) if path is not None else None
        self.credentials = CredentialFiles(config.credentials_dir) if config.credentials_dir else None

    def props(self) -> dict[str, str]:
        props = self.config.catalog_props()  # credentials are read (files, environment) here, at every build
        if self.path is not None:
            props["uri"] = _sqlite_read_write_uri(self.config.catalog_uri, self.path)
            props["init_catalog_tables"] = "false"
        return props

    def __call__(self) -> Any:
        from pyiceberg.catalog import load_catalog

        return load_catalog(self.config.catalog_name, **self.props())


def catalog_factory(config: Config) -> Callable[[], Any]:
    return CatalogFactory(config)
