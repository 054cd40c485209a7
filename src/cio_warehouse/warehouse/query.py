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

__all__ = [
    "READ_ONLY_STATEMENTS", "READ_ONLY_SUMMARY", "QueryError", "QueryResult", "check_read_only",
    "execute", "run_query", "target_for",
]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


# The guard is the first line; the engine is the second (duckdb_file.py: no file access, no
# extensions, settings locked; each statement alone in a READ ONLY transaction; PostgreSQL's
# sessions read-only). The guard fails closed: what it cannot prove to be one reading statement
# over the warehouse's tables is refused.
#
# SELECT covers WITH, FROM-first queries, VALUES, DESCRIBE, SHOW and SUMMARIZE in DuckDB's parser.
# EXPLAIN [ANALYZE] runs only of a statement that passes the same check.
_EXPLAIN_OPTIONS = {"ANALYZE", "ANALYSE", "VERBOSE"}
# What runs, as the user writes it: one list for the refusal below and the hints that say what may
# be typed (the web app's SQL box), so that they cannot disagree.
READ_ONLY_STATEMENTS = ("SELECT", "WITH", "FROM", "VALUES", "DESCRIBE", "SHOW", "SUMMARIZE",
                        "EXPLAIN")
READ_ONLY_SUMMARY = ", ".join(READ_ONLY_STATEMENTS[:-1]) + " and EXPLAIN of one of them"
# The nodes of a SELECT's tree that read nothing but what its table references and functions
# name (json_serialize_sql's "type" of nodes without a "class"). Anything else, a DELETE inside a
# WITH for one (DuckDB runs it), is refused.
_TREE_NODES = {
    "SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE",
    "BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY", "EMPTY_FROM",
    "PIVOT", "SHOW_REF",
    "ORDER_MODIFIER", "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER", "DISTINCT_MODIFIER",
    "ASCENDING", "DESCENDING", "ORDER_DEFAULT",
}
# On DuckDB, only these table functions: the rest read files, other databases, settings or run
# SQL from a string (read_text, glob, sqlite_scan, duckdb_settings, query ...).
_TABLE_FUNCTIONS = {
    "range", "generate_series", "unnest", "duckdb_tables", "duckdb_columns", "duckdb_schemas",
    "duckdb_views", "duckdb_types", "duckdb_constraints", "duckdb_indexes",
    # DESCRIBE, SHOW and SUMMARIZE are rewritten into these.
    "summary", "describe", "show", "show_tables", "show_databases", "pragma_table_info",
}
_DUCKDB_FUNCTIONS_DENIED = ("getenv", "read_", "glob", "sniff_", "parquet_", "load", "install")
# PostgreSQL functions that read the server's files, act on other sessions or the server, change
# settings, run SQL from a string or reach other databases. The SELECT-only role
# (docs/destinations.md) is what keeps them out; this list is the second line.
_POSTGRES_FUNCTIONS_DENIED = (
    "pg_read_", "pg_ls_", "pg_stat_file", "lo_", "pg_terminate_backend", "pg_cancel_backend",
    "set_config", "dblink", "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal",
    "pg_create_", "pg_drop_", "pg_promote", "pg_file_", "pg_logdir_", "pg_advisory_",
    "pg_try_advisory_", "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema",
    "cursor_to_xml", "pg_import_system_collations", "pg_log_backend_memory_contexts",
)
_PATH_CHARACTERS = set("/\\:*?") | {"."}


def check_read_only(sql: str, dialect: Dialect = "duckdb") -> duckdb.Statement:
    """The one statement of `sql`, proven to read only, or QueryError saying why in a sentence.

    Checked with DuckDB's parser (PostgreSQL's is a close relative), not with string matching;
    on DuckDB, only the warehouse's own tables are readable. Run the statement returned, never
    `sql` itself: it is exactly what was checked.
    """
    statement = _one_statement(sql, dialect)
    checked = statement
    if statement.type is duckdb.StatementType.EXPLAIN:
        checked = _one_statement(_explained(statement.query), dialect)
        if checked.type is not duckdb.StatementType.SELECT:
            raise QueryError(f"EXPLAIN runs here only of a SELECT, not of {checked.type.name}.")
    if checked.type is not duckdb.StatementType.SELECT:
        raise QueryError(
            f"Only read-only queries run here ({READ_ONLY_SUMMARY}), not {checked.type.name}."
        )
    _check_tree(checked.query, dialect)
    return statement


def _one_statement(sql: str, dialect: Dialect) -> duckdb.Statement:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        hint = (
            " (cio-warehouse checks queries with DuckDB's SQL parser; run syntax it does not "
            "know with psql directly)"
            if dialect == "postgres"
            else ""
        )
        raise QueryError(f"The query failed: {sentence(first_line(exc) + hint)}") from None
    if not statements:
        raise QueryError("The query is empty: give a SELECT statement.")
    if len(statements) > 1:
        raise QueryError("Give one statement at a time.")
    return statements[0]


def _explained(text: str) -> str:
    """The statement an EXPLAIN explains: the text after EXPLAIN and its options
    (ANALYZE, VERBOSE, or a parenthesized list), found with DuckDB's tokenizer."""
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(text)]
    words = [
        (start, text[start:end].strip())
        for (start, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    if not words or words[0][1].upper() != "EXPLAIN":
        raise QueryError("cio-warehouse could not read this EXPLAIN: give EXPLAIN SELECT ...")
    at, depth = 1, 0
    while at < len(words):
        word = words[at][1].upper()
        if word == "(":
            depth += 1
        elif word == ")" and depth:
            depth -= 1
        elif not depth and word not in _EXPLAIN_OPTIONS:
            return text[words[at][0]:]
        at += 1
    raise QueryError("EXPLAIN needs a statement to explain: give EXPLAIN SELECT ...")


def _check_tree(sql: str, dialect: Dialect) -> None:
    # A cursor of its own: the module-level duckdb.execute shares one connection across threads
    # (the API's concurrent queries failed on it).
    with duckdb.default_connection().cursor() as con:
        row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        raise QueryError(
            "cio-warehouse cannot check what this query reads, so it does not run it: "
            f"{tree.get('error_message') or 'write it as a plain SELECT'}."
        )
    denied = _DUCKDB_FUNCTIONS_DENIED if dialect == "duckdb" else _POSTGRES_FUNCTIONS_DENIED
    for node in _nodes(tree):
        kind = node.get("type")
        if not isinstance(kind, str):
            continue
        if "class" not in node and kind not in _TREE_NODES:
            what = kind.removesuffix("_NODE").removesuffix("_QUERY").replace("_", " ")
            raise QueryError(f"Only reading queries run here: this one has a {what} inside it.")
        if kind == "TABLE_FUNCTION":
            name = _function_name(node.get("function"))
            if name.startswith(denied) or (dialect == "duckdb" and name not in _TABLE_FUNCTIONS):
                raise QueryError(
                    f"The table function {name}() is not allowed here: queries read the "
                    "warehouse's tables, not files or other databases."
                )
        elif (
            dialect == "duckdb" and kind == "BASE_TABLE"
            and _PATH_CHARACTERS & set(str(node.get("table_name", "")))
        ):
            raise QueryError(
                f"{node.get('table_name')!r} is not a table of the warehouse: queries read its "
                "tables (SOURCE.TABLE), not files."
            )
        function = node.get("function_name")
        if kind == "FUNCTION" and isinstance(function, str) and function.lower().startswith(
            denied
        ):
            raise QueryError(f"The function {function}() is not allowed here.")


def sentence(text: str) -> str:
    """An engine's words as the end of our sentence: one full stop."""
    return text if text.endswith((".", "!", "?")) else text + "."


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
    statement = check_read_only(sql, cursor.dialect)
    try:
        with cursor.read_only():
            # DuckDB runs the parsed statement; psycopg2 needs its text (the one statement).
            cursor.execute(statement if cursor.dialect == "duckdb" else statement.query)
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
        raise QueryError(f"The query failed: {sentence(first_line(exc))}") from None


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
