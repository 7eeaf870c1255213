"""Catalog access for change detection.

A cycle first lists every table together with what identifies its current metadata, as
cheaply as the catalog allows, then loads only the tables whose metadata changed:

- **SQL catalog** (pyiceberg ``SqlCatalog``): ONE query per cycle on the catalog's own
  ``iceberg_tables`` table returns every table's ``metadata_location``.
- **Hive Metastore**: per database ``get_all_tables`` and then the batch call
  ``get_table_objects_by_name_req`` (``get_table_objects_by_name`` on metastores that do
  not know the request form); the ``metadata_location`` table parameter identifies the
  metadata. No metadata file is read for the listing.
- **REST catalog** and any other catalog: ``list_namespaces`` / ``list_tables``, which
  carry no metadata location. Each table is then loaded with a conditional request
  (``If-None-Match`` with the ETag of the last load, which the Iceberg REST spec's
  loadTable allows): ``304 Not Modified`` means unchanged. A server that sends no ETag
  gets a full load every cycle.

A changed table whose new metadata location is known from the listing is loaded by
reading exactly that metadata file (what pyiceberg's ``load_table`` does after its own
catalog call), so the cycle costs no second catalog call per changed table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Sequence

log = logging.getLogger(__name__)

#: Tables asked for in one Hive ``get_table_objects_by_name(_req)`` call.
HIVE_BATCH_SIZE = 500


class TableRef(NamedTuple):
    """One listed table; ``metadata_location`` is None when the listing cannot tell.

    A named tuple: a cycle makes one per table (10,000 at lake scale), cheaply.
    """

    database: str
    table: str
    metadata_location: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.database, self.table)


@dataclass
class Loaded:
    """A table's metadata as loaded this cycle."""

    metadata: Any  # pyiceberg TableMetadata
    io: Any  # pyiceberg FileIO for the table's files
    metadata_location: str | None
    etag: str | None = None


class _NotModified:
    def __repr__(self) -> str:
        return "NOT_MODIFIED"


#: Returned by :func:`load_rest_conditional` for ``304 Not Modified``.
NOT_MODIFIED = _NotModified()


def listing_mode(catalog: Any) -> str:
    """``sql``, ``hive`` or ``generic`` (REST and others): how :func:`list_table_refs` lists."""
    try:
        from pyiceberg.catalog.sql import SqlCatalog

        if isinstance(catalog, SqlCatalog):
            return "sql"
    except ImportError:  # pragma: no cover - the sql extra is pinned
        pass
    try:
        from pyiceberg.catalog.hive import HiveCatalog

        if isinstance(catalog, HiveCatalog):
            return "hive"
    except ImportError:  # pragma: no cover - the hive extra is pinned
        pass
    return "generic"


def supports_conditional_load(catalog: Any) -> bool:
    """True for pyiceberg's REST catalog (loads are sent with If-None-Match)."""
    try:
        from pyiceberg.catalog.rest import RestCatalog
    except ImportError:  # pragma: no cover
        return False
    return isinstance(catalog, RestCatalog) and hasattr(catalog, "_session")


def list_table_refs(
    catalog: Any,
    namespaces: Sequence[str] | None,
    on_missing_namespace: Callable[[str], None],
) -> list[TableRef]:
    """Every table of the selected namespaces (default: all top-level ones)."""
    mode = listing_mode(catalog)
    if mode == "sql":
        return _list_sql(catalog, namespaces, on_missing_namespace)
    if mode == "hive":
        return _list_hive(catalog, namespaces, on_missing_namespace)
    return _list_generic(catalog, namespaces, on_missing_namespace)


# -- SQL -----------------------------------------------------------------------------
def _list_sql(catalog: Any, namespaces: Sequence[str] | None, on_missing: Callable[[str], None]) -> list[TableRef]:
    from pyiceberg.catalog.sql import IcebergTables
    from sqlalchemy import select

    stmt = select(IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location).where(
        IcebergTables.catalog_name == catalog.name
    )
    type_filter = getattr(catalog, "_iceberg_type_filter", lambda: None)()
    if type_filter is not None:  # exclude views stored in the same table (v1 schema)
        stmt = stmt.where(type_filter)
    with catalog.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    wanted = set(namespaces) if namespaces else None
    refs: list[TableRef] = []
    seen: set[str] = set()
    for namespace, name, location in rows:
        if wanted is None:
            if "." in namespace:  # only top-level namespaces, as list_namespaces() gives
                continue
        elif namespace not in wanted:
            continue
        seen.add(namespace)
        refs.append(TableRef(namespace, name, location or None))
    for namespace in sorted((wanted or set()) - seen):
        # No table there: an empty namespace is fine, a missing one is reported.
        if not catalog.namespace_exists(namespace):
            on_missing(namespace)
    refs.sort(key=lambda r: r.key)
    return refs


# -- Hive ----------------------------------------------------------------------------
def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _hive_tables(client: Any, catalog: Any, database: str, names: list[str]) -> list[Any]:
    """Table objects of ``names`` in batches, by the request form where the metastore has it."""
    from hive_metastore.ttypes import GetTablesRequest
    from thrift.Thrift import TApplicationException

    out: list[Any] = []
    for batch in _chunks(names, HIVE_BATCH_SIZE):
        if not getattr(catalog, "_exporter_hive_no_req", False):
            try:
                out.extend(client.get_table_objects_by_name_req(GetTablesRequest(dbName=database, tblNames=batch)).tables or [])
                continue
            except TApplicationException as exc:
                if exc.type != TApplicationException.UNKNOWN_METHOD:
                    raise
                log.info("metastore has no get_table_objects_by_name_req; using get_table_objects_by_name")
                catalog._exporter_hive_no_req = True  # remembered for this catalog client
        out.extend(client.get_table_objects_by_name(database, batch) or [])
    return out


def _list_hive(catalog: Any, namespaces: Sequence[str] | None, on_missing: Callable[[str], None]) -> list[TableRef]:
    from hive_metastore.ttypes import NoSuchObjectException

    refs: list[TableRef] = []
    with catalog._client as client:  # one connection for the whole listing
        databases = list(namespaces) if namespaces else list(client.get_all_databases())
        for database in databases:
            try:
                names = list(client.get_all_tables(database))
                if not names and namespaces:
                    client.get_database(database)  # raises NoSuchObjectException when missing
            except NoSuchObjectException:
                on_missing(database)
                continue
            for table in _hive_tables(client, catalog, database, names):
                params = table.parameters or {}
                if params.get("table_type", "").lower() != "iceberg":
                    continue
                refs.append(TableRef(table.dbName or database, table.tableName, params.get("metadata_location") or None))
    refs.sort(key=lambda r: r.key)
    return refs


# -- REST and others -------------------------------------------------------------------
def _list_generic(catalog: Any, namespaces: Sequence[str] | None, on_missing: Callable[[str], None]) -> list[TableRef]:
    from pyiceberg.exceptions import NoSuchNamespaceError

    if namespaces:
        nss = [tuple(ns.split(".")) for ns in namespaces]
    else:
        nss = [tuple(ns) for ns in catalog.list_namespaces()]
    refs: list[TableRef] = []
    for ns in nss:
        db = ".".join(ns)
        try:
            idents = catalog.list_tables(ns)
        except NoSuchNamespaceError:
            on_missing(db)
            continue
        for ident in idents:
            refs.append(TableRef(".".join(ident[:-1]) or db, ident[-1], None))
    return refs


# -- loading -------------------------------------------------------------------------
def load_at(catalog: Any, metadata_location: str) -> Loaded:
    """Read the metadata file the catalog points at (one file read, no catalog call)."""
    from pyiceberg.serializers import FromInputFile

    io = catalog._load_file_io(location=metadata_location)
    metadata = FromInputFile.table_metadata(io.new_input(metadata_location))
    return Loaded(metadata, catalog._load_file_io(metadata.properties, metadata_location), metadata_location)


def load_full(catalog: Any, identifier: tuple[str, ...]) -> Loaded:
    table = catalog.load_table(identifier)
    return Loaded(table.metadata, table.io, table.metadata_location)


def load_rest_conditional(catalog: Any, identifier: tuple[str, ...], etag: str | None) -> Loaded | _NotModified:
    """pyiceberg's RestCatalog.load_table, sent with ``If-None-Match`` when ``etag`` is known.

    Returns :data:`NOT_MODIFIED` on ``304``; otherwise the table, with the response's ETag
    (None when the server sends none: then every load is a full one).
    """
    from pyiceberg.catalog.rest import SNAPSHOT_LOADING_MODE, Capability, Endpoints, TableResponse
    from pyiceberg.catalog.rest.response import _handle_non_200_response
    from pyiceberg.exceptions import NoSuchTableError
    from requests import HTTPError

    catalog._check_endpoint(Capability.V1_LOAD_TABLE)
    params: dict[str, str] = {}
    if mode := catalog.properties.get(SNAPSHOT_LOADING_MODE):
        params["snapshots"] = mode
    headers = {"If-None-Match": etag} if etag else {}
    response = catalog._session.get(
        catalog.url(Endpoints.load_table, prefixed=True, **catalog._split_identifier_for_path(identifier)),
        params=params,
        headers=headers,
    )
    if response.status_code == 304 and etag:
        return NOT_MODIFIED
    try:
        response.raise_for_status()
    except HTTPError as exc:
        _handle_non_200_response(exc, {404: NoSuchTableError})
    table_response = TableResponse.model_validate_json(response.text)
    table = catalog._response_to_table(catalog.identifier_to_tuple(identifier), table_response)
    return Loaded(table.metadata, table.io, table.metadata_location, response.headers.get("ETag") or None)
