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
    truncated: bool = False


# SELECT covers WITH, FROM-first queries, DESCRIBE, SHOW and SUMMARIZE in DuckDB's parser.
_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def check_read_only(sql: str) -> None:
    """Only reading statements; checked with DuckDB's own parser, not with string matching."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"The query failed: {_first_line(exc)}") from None
    if not statements:
        raise QueryError("The query is empty: give a SELECT statement.")
    if len(statements) > 1:
        raise QueryError("Give one statement at a time.")
    if statements[0].type not in _READ_ONLY:
        raise QueryError(
            f"Only read-only queries run here (SELECT, DESCRIBE, SHOW, EXPLAIN), not "
            f"{statements[0].type.name}."
        )


def execute(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int | None) -> QueryResult:
    check_read_only(sql)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return QueryResult([], [])
        columns = [d[0] for d in cursor.description]
        if max_rows is None:
            return QueryResult(columns, cursor.fetchall())
        rows = cursor.fetchmany(max_rows + 1)
        return QueryResult(columns, rows[:max_rows], truncated=len(rows) > max_rows)
    except duckdb.Error as exc:
        raise QueryError(f"The query failed: {_first_line(exc)}") from None


def run_query(data_dir: DataDir, sql: str, *, max_rows: int | None = None) -> QueryResult:
    """Open the warehouse read-only for one query (when no `serve` process owns it)."""
    if not data_dir.warehouse.exists():
        raise QueryError(
            f"The warehouse {data_dir.warehouse} does not exist yet: add a source and run "
            "`cio-warehouse sync NAME` first."
        )
    check_read_only(sql)
    try:
        con = duckdb.connect(str(data_dir.warehouse), read_only=True)
    except duckdb.IOException as exc:
        raise QueryError(
            f"The warehouse is locked by another process ({_first_line(exc)}); wait for the "
            "running sync to finish, or run `cio-warehouse serve` so that the CLI goes through it."
        ) from None
    try:
        return execute(con, sql, max_rows)
    finally:
        con.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
