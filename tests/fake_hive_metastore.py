"""A Hive Metastore thrift server on 127.0.0.1 for the Iceberg exporter tests.

It speaks the real metastore protocol: the ``hive_metastore.ThriftHiveMetastore.Processor``
that pyiceberg's hive extra ships, over thrift's binary protocol on a buffered TCP
socket (what pyiceberg's ``HiveCatalog`` and the exporter use). The handler implements
the read calls a monitoring client makes:

``get_all_databases``, ``get_database``, ``get_all_tables``, ``get_table``,
``get_table_objects_by_name`` and ``get_table_objects_by_name_req``

and answers them from a real pyiceberg SQL catalog (a :class:`LocalCatalog`): every SQL
catalog namespace is a Hive database, every table a Hive ``EXTERNAL_TABLE`` with
``table_type=ICEBERG`` and ``metadata_location`` pointing at the metadata file pyiceberg
wrote. Commits made through the SQL catalog are seen on the next call, as a metastore
sees commits of other engines. Plain (non-Iceberg) Hive tables can be added with
:meth:`FakeHiveMetastore.add_plain_table`; other calls answer thrift's "unknown method".

:meth:`FakeHiveMetastore.stop` closes the listening socket and every open connection
(the metastore goes away); :meth:`start` listens on the same port again.
"""

from __future__ import annotations

import collections
import socket
import threading
from typing import Any

from hive_metastore import ThriftHiveMetastore
from hive_metastore.ttypes import (
    Database,
    FieldSchema,
    GetTablesResult,
    NoSuchObjectException,
    SerDeInfo,
    StorageDescriptor,
    Table,
)
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TApplicationException
from thrift.transport import TSocket, TTransport

from iceberg_fixtures import LocalCatalog, free_port  # noqa: I001


class _Handler:
    """The metastore calls, answered from the backing SQL catalog."""

    def __init__(self, server: "FakeHiveMetastore"):
        self._server = server

    def _count(self, name: str) -> None:
        with self._server.lock:
            self._server.calls[name] += 1

    # -- databases ---------------------------------------------------------------
    def _databases(self) -> list[str]:
        names = {".".join(ns) for ns in self._server.backing.catalog.list_namespaces()}
        return sorted(names | set(self._server.plain_tables))

    def get_all_databases(self) -> list[str]:
        self._count("get_all_databases")
        return self._databases()

    def get_database(self, name: str) -> Database:
        self._count("get_database")
        if name not in self._databases():
            raise NoSuchObjectException(message=f"{name} database not found")
        return Database(name=name, locationUri=f"{self._server.backing.warehouse}/{name}.db", parameters={})

    # -- tables ------------------------------------------------------------------
    def _iceberg_table(self, db: str, name: str) -> Table | None:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            table = self._server.backing.catalog.load_table((db, name))
        except NoSuchTableError:
            return None
        return Table(
            tableName=name,
            dbName=db,
            owner="iceberg",
            createTime=0,
            lastAccessTime=0,
            sd=StorageDescriptor(
                cols=[FieldSchema(name=f.name, type="string") for f in table.schema().fields],
                location=table.location(),
                inputFormat="org.apache.hadoop.mapred.FileInputFormat",
                outputFormat="org.apache.hadoop.mapred.FileOutputFormat",
                serdeInfo=SerDeInfo(serializationLib="org.apache.iceberg.mr.hive.HiveIcebergSerDe"),
            ),
            partitionKeys=[],
            tableType="EXTERNAL_TABLE",
            parameters={
                "table_type": "ICEBERG",
                "metadata_location": table.metadata_location,
                "EXTERNAL": "TRUE",
            },
        )

    def _table_names(self, db: str) -> list[str]:
        catalog = self._server.backing.catalog
        names = []
        if db in {".".join(ns) for ns in catalog.list_namespaces()}:
            names = [ident[-1] for ident in catalog.list_tables(db)]
        return sorted(names + [t.tableName for t in self._server.plain_tables.get(db, [])])

    def _lookup(self, db: str, name: str) -> Table | None:
        for plain in self._server.plain_tables.get(db, []):
            if plain.tableName == name:
                return plain
        return self._iceberg_table(db, name)

    def get_all_tables(self, db_name: str) -> list[str]:
        self._count("get_all_tables")
        return self._table_names(db_name)  # a missing database lists nothing, as Hive does

    def get_table(self, dbname: str, tbl_name: str) -> Table:
        self._count("get_table")
        table = self._lookup(dbname, tbl_name)
        if table is None:
            raise NoSuchObjectException(message=f"{dbname}.{tbl_name} table not found")
        return table

    def get_table_objects_by_name(self, dbname: str, tbl_names: list[str]) -> list[Table]:
        self._count("get_table_objects_by_name")
        return [t for t in (self._lookup(dbname, n) for n in tbl_names) if t is not None]

    def get_table_objects_by_name_req(self, req: Any) -> GetTablesResult:
        if not self._server.supports_req:  # a Hive 2 metastore: no request form
            raise TApplicationException(
                TApplicationException.UNKNOWN_METHOD, "Invalid method name: 'get_table_objects_by_name_req'"
            )
        self._count("get_table_objects_by_name_req")
        with self._server.lock:
            self._server.batch_sizes.append(len(req.tblNames or []))
        return GetTablesResult(tables=[t for t in (self._lookup(req.dbName, n) for n in req.tblNames or []) if t])

    def __getattr__(self, name: str) -> Any:
        def unknown(*args: Any, **kwargs: Any) -> Any:
            raise TApplicationException(TApplicationException.UNKNOWN_METHOD, f"not implemented here: {name}")

        return unknown


class FakeHiveMetastore:
    """``ThriftHiveMetastore`` on 127.0.0.1 backed by a :class:`LocalCatalog`."""

    def __init__(self, backing: LocalCatalog, port: int | None = None, supports_req: bool = True):
        self.backing = backing
        self.port = port or free_port()
        self.uri = f"thrift://127.0.0.1:{self.port}"
        self.supports_req = supports_req
        self.calls: collections.Counter[str] = collections.Counter()
        self.batch_sizes: list[int] = []
        self.plain_tables: dict[str, list[Table]] = {}
        self.lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._running = False

    def add_plain_table(self, db: str, name: str) -> None:
        """A non-Iceberg Hive table (no table_type parameter) that must be ignored."""
        self.plain_tables.setdefault(db, []).append(
            Table(tableName=name, dbName=db, tableType="MANAGED_TABLE", parameters={"transient_lastDdlTime": "0"})
        )

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.batch_sizes.clear()

    # -- serving -----------------------------------------------------------------
    def _serve_client(self, conn: socket.socket) -> None:
        processor = ThriftHiveMetastore.Processor(_Handler(self))
        client = TSocket.TSocket()
        client.setHandle(conn)
        transport = TTransport.TBufferedTransport(client)
        protocol = TBinaryProtocol.TBinaryProtocol(transport)
        try:
            while self._running:
                processor.process(protocol, protocol)
        except (TTransport.TTransportException, OSError, EOFError):
            pass  # the client hung up, or stop() closed the connection
        finally:
            with self.lock:
                self._clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break  # listener closed by stop()
            conn.settimeout(None)
            with self.lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve_client, args=(conn,), daemon=True).start()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)  # the accept loop checks _running between waits
        self._listener = listener
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The metastore goes away: no listener, every open connection closed."""
        self._running = False
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self.lock:
            clients, self._clients = list(self._clients), set()
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> "FakeHiveMetastore":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
