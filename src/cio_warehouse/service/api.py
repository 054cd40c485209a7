"""The service's read-only SQL sessions: its one DuckDB instance, or the source's warehouse."""

from __future__ import annotations

import threading

import duckdb

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.warehouse.duckdb_file import open_warehouse
from cio_warehouse.warehouse.query import target_for
from cio_warehouse.warehouse.readers import SqlCursor, open_cursor


class Warehouse:
    """Cursors for the service's queries. The data dir's DuckDB file is opened once, locked down
    (duckdb_file.py), and shared with dlt's loads in this process (DuckDB allows one writing
    process per file); PostgreSQL and Delta Lake get a read-only session per cursor."""

    def __init__(self, data_dir: DataDir, store: StateStore | None = None) -> None:
        self._data_dir = data_dir
        self._store = store
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def cursor(self, source: str | None = None) -> SqlCursor:
        """On `source`'s warehouse, else on the one every source shares (or the DuckDB file)."""
        if self._store is not None:
            target, datasets = target_for(self._store, source)
            if not target.is_default:
                return open_cursor(target, self._data_dir, datasets)
        return SqlCursor(self.duckdb().cursor(), "duckdb")

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = open_warehouse(self._data_dir)
            return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
