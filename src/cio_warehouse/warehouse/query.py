"""Read-only SQL over a warehouse, with errors that say what to do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.readers import Dialect, QueryError, SqlCursor, first_line, open_cursor

__all__ = ["QueryError", "QueryResult", "check_read_only", "execute", "run_query", "target_for"]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


# SELECT covers WITH, FROM-first queries, DESCRIBE, SHOW and SUMMARIZE in DuckDB's parser.
_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# Read-only statements can still read the machine's files through DuckDB: table functions
# (read_text('/etc/passwd'), read_csv, glob), replacement scans (FROM 'file.csv') and getenv().
# DuckDB's enable_external_access would stop them, but it is per database and would stop dlt's
# own loads in the service as well; so the parse tree is checked instead.
_TABLE_FUNCTIONS = {
    "range", "generate_series", "unnest", "duckdb_tables", "duckdb_columns", "duckdb_schemas",
    "duckdb_views", "duckdb_types", "duckdb_constraints", "duckdb_indexes",
    # DESCRIBE, SHOW and SUMMARIZE are rewritten into these.
    "summary", "describe", "show", "show_tables", "show_databases", "pragma_table_info",
}
_FUNCTIONS_DENIED = ("getenv", "read_", "glob", "sniff_", "parquet_", "load", "install")
_PATH_CHARACTERS = set("/\\:*?") | {"."}


def check_read_only(sql: str, dialect: Dialect = "duckdb") -> None:
    """One reading statement, checked with DuckDB's parser (PostgreSQL's is a close relative),
    not with string matching; on DuckDB, only the warehouse's own tables are readable."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        hint = (
            " (cio-warehouse checks queries with DuckDB's SQL parser; run syntax it does not "
            "know with psql directly)"
            if dialect == "postgres"
            else ""
        )
        raise QueryError(f"The query failed: {first_line(exc)}{hint}") from None
    if not statements:
        raise QueryError("The query is empty: give a SELECT statement.")
    if len(statements) > 1:
        raise QueryError("Give one statement at a time.")
    if statements[0].type not in _READ_ONLY:
        raise QueryError(
            f"Only read-only queries run here (SELECT, DESCRIBE, SHOW, EXPLAIN), not "
            f"{statements[0].type.name}."
        )
    if dialect == "duckdb" and statements[0].type is duckdb.StatementType.SELECT:
        _check_reads_only_tables(sql)


def _check_reads_only_tables(sql: str) -> None:
    # A cursor of its own: the module-level duckdb.execute shares one connection across threads
    # (the API's concurrent queries failed on it).
    with duckdb.default_connection().cursor() as con:
        row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    assert row is not None
    tree = json.loads(row[0])
    if tree.get("error"):
        return  # not a plain SELECT (SHOW, DESCRIBE ...): the statement type check covers it
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            name = _function_name(node.get("function"))
            if name not in _TABLE_FUNCTIONS:
                raise QueryError(
                    f"The table function {name}() is not allowed here: queries read the "
                    "warehouse's tables, not files or other databases."
                )
        elif kind == "BASE_TABLE" and _PATH_CHARACTERS & set(str(node.get("table_name", ""))):
            raise QueryError(
                f"{node.get('table_name')!r} is not a table of the warehouse: queries read its "
                "tables (SOURCE.TABLE), not files."
            )
        function = node.get("function_name")
        if kind == "FUNCTION" and isinstance(function, str) and function.lower().startswith(
            _FUNCTIONS_DENIED
        ):
            raise QueryError(f"The function {function}() is not allowed here.")


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _function_name(function: Any) -> str:
    if isinstance(function, dict):
        return str(function.get("function_name", "")).lower()
    return ""


def execute(cursor: SqlCursor, sql: str, max_rows: int | None) -> QueryResult:
    check_read_only(sql, cursor.dialect)
    try:
        cursor.execute(sql)
        if cursor.description is None:
            return QueryResult([], [])
        columns = [d[0] for d in cursor.description]
        if max_rows is None:
            return QueryResult(columns, cursor.fetchall())
        rows = cursor.fetchmany(max_rows + 1)
        return QueryResult(columns, rows[:max_rows], truncated=len(rows) > max_rows)
    except Exception as exc:  # noqa: BLE001  duckdb.Error or psycopg2.Error: the engine's words
        if isinstance(exc, QueryError):
            raise
        raise QueryError(f"The query failed: {first_line(exc)}") from None


def target_for(store: StateStore, source: str | None) -> tuple[destination.Target, list[str]]:
    """Where a query runs: the source's warehouse, else the one every source shares.

    Returns the target and the sources (datasets) in it.
    """
    names = store.source_names()
    if source is not None:
        return destination.of_source(store.get_source(source).destination), [source]
    targets: dict[str, tuple[destination.Target, list[str]]] = {}
    for name in names:
        target = destination.of_source(store.get_source(name).destination)
        targets.setdefault(target.key(store.data_dir), (target, []))[1].append(name)
    if len(targets) > 1:
        default = targets.pop(str(store.data_dir.warehouse), None)
        others = ", ".join(
            f"{t.engine.label} ({', '.join(sources)})" for t, sources in targets.values()
        )
        if default is None:
            raise QueryError(
                f"The sources load into different warehouses: {others}; say which with "
                "--source NAME."
            )
        return default
    if targets:
        return next(iter(targets.values()))
    return destination.parse(None), []


def run_query(
    data_dir: DataDir, sql: str, *, source: str | None = None, max_rows: int | None = None
) -> QueryResult:
    """One query on the warehouse of `source` (or of every source), when no `serve` runs."""
    target, datasets = target_for(StateStore(data_dir), source)
    check_read_only(sql, "postgres" if target.engine.name == "postgres" else "duckdb")
    cursor = open_cursor(target, data_dir, datasets)
    try:
        return execute(cursor, sql, max_rows)
    finally:
        cursor.close()
