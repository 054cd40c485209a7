"""Read-only SQL over the warehouse, with errors that say what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from cio_warehouse.state import DataDir


class QueryError(Exception):
    """A query could not run; the message says why and what to do."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(data_dir: DataDir, sql: str, *, max_rows: int | None = None) -> QueryResult:
    if not data_dir.warehouse.exists():
        raise QueryError(
            f"The warehouse {data_dir.warehouse} does not exist yet: add a source and run "
            "`cio-warehouse sync NAME` first."
        )
    try:
        # read_only: the query path never changes data, whatever the SQL says.
        con = duckdb.connect(str(data_dir.warehouse), read_only=True)
    except duckdb.IOException as exc:
        raise QueryError(
            f"The warehouse is locked by another process ({_first_line(exc)}); wait for the "
            "running sync to finish, or run `cio-warehouse serve` so that the CLI goes through it."
        ) from None
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return QueryResult([], [])
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows) if max_rows is not None else cursor.fetchall()
        return QueryResult(columns, rows)
    except duckdb.Error as exc:
        raise QueryError(f"The query failed: {_first_line(exc)}") from None
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
