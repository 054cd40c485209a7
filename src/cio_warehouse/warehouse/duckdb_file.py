"""The DuckDB instances that run SQL a user wrote, locked down by DuckDB itself.

What holds on every instance this module opens (the data dir's warehouse, read-write in the
service or a load, read-only in the CLI; the Delta reader's in-memory one), whatever the query
guard (query.py) lets through:
- no file is read or written, no database attached from a file, no extension installed or
  loaded, no environment variable read (`enable_external_access` off);
- except under the data dir's `pipelines/`, where dlt's load packages wait: dlt's DuckDB loads
  read them (`read_parquet`), and `allowed_directories` is the one exception DuckDB offers;
- no setting changes from then on (`lock_configuration`), so none of the above can be undone.

Why settings on the instance rather than a separate query process: DuckDB lets one process open
the file for writing, and the service's loads must share it with its queries; its settings
belong to a database instance, and a process has one instance per file. So the instance is
locked down before any connection of this process uses it, with the settings dlt's loads would
otherwise SET on it (dlt_fixes.settle_locked_duckdb lets dlt skip them).

What an instance that loads cannot refuse is a write to the warehouse's own tables: the query
path runs each statement alone in a READ ONLY transaction (query.execute), and the CLI opens the
file read-only when no service runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cio_warehouse.state import DataDir

# DuckDB's buffer pool defaults to 80% of RAM and keeps what it touched: a load of a large table
# would hold hundreds of MB long after. A cap keeps memory flat as workspaces grow; DuckDB spills
# to disk beyond it. Override with CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT.
DEFAULT_MEMORY_LIMIT = "256MB"

# What dlt 1.31's DuckDB client sets on each connection it opens (sql_client.DuckDbSqlClient:
# checkpoint_threshold and TimeZone as global settings, the checkpoint pragma): applied here once,
# since a locked instance refuses them later. tests/unit/test_duckdb_file.py fails when dlt asks
# for other settings.
DLT_GLOBAL_SETTINGS = {"checkpoint_threshold": "1gb", "TimeZone": "UTC"}
DLT_PRAGMAS = ("enable_checkpoint_on_shutdown",)

# Two threads opening a new instance at once must not both lock it down (the second's
# allowed_directories would fail once the first has turned external access off).
_locking = threading.Lock()


def duckdb_settings() -> dict[str, str]:
    limit = os.environ.get("CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    return {"memory_limit": limit}


def is_locked(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    return bool(row and row[0])


def lock_down(
    con: duckdb.DuckDBPyConnection, readable: Sequence[Path] = (), *, loads: bool = False
) -> None:
    """Lock the instance behind `con` (once: an instance already locked stays as it is).

    `readable`: directories DuckDB may still read and write files in (dlt's load packages);
    `loads`: dlt loads on this instance, so it gets the settings dlt would set.
    """
    with _locking:
        if is_locked(con):
            return
        for name, value in {**duckdb_settings(), **(DLT_GLOBAL_SETTINGS if loads else {})}.items():
            con.execute(f"SET GLOBAL {name} = ?", [value])
        for pragma in DLT_PRAGMAS if loads else ():
            con.execute(f"PRAGMA {pragma}")
        if readable:
            # A trailing separator: DuckDB matches allowed directories as path prefixes.
            con.execute(
                "SET allowed_directories = ?", [[str(path).rstrip("/") + "/" for path in readable]]
            )
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")


def open_warehouse(data_dir: DataDir) -> duckdb.DuckDBPyConnection:
    """A connection to the data dir's warehouse, read-write, on this process's locked instance
    (DuckDB shares one instance per file within a process, so every connection opened here, and
    dlt's, meets the same locked settings). The caller closes it."""
    con = duckdb.connect(str(data_dir.warehouse))
    try:
        lock_down(con, [data_dir.pipelines], loads=True)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def holding_warehouse(data_dir: DataDir) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse held open (and locked down) while dlt loads into it by path."""
    con = open_warehouse(data_dir)
    try:
        yield con
    finally:
        con.close()


def open_read_only(data_dir: DataDir) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse for queries when no service runs; this process's
    read-write instance when it has one (DuckDB refuses a second, read-only one)."""
    try:
        con = duckdb.connect(str(data_dir.warehouse), read_only=True)
    except duckdb.ConnectionException:  # "a different configuration than existing connections"
        return open_warehouse(data_dir)
    try:
        lock_down(con)
    except BaseException:
        con.close()
        raise
    return con
