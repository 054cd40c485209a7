"""The service's one DuckDB instance (its JSON API moved to cio_warehouse.web.api)."""

from __future__ import annotations

import threading

import duckdb

from cio_warehouse.state import DataDir


class Warehouse:
    """The service's one DuckDB instance; dlt's loads in this process share it."""

    def __init__(self, data_dir: DataDir) -> None:
        self._path = str(data_dir.warehouse)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = duckdb.connect(self._path)
            return self._con.cursor()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
