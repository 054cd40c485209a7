"""The table browser: which tables each source's schema holds, their columns and first rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from cio_warehouse.warehouse.values import to_json_value
from cio_warehouse.web.analytics import ident

# dlt's bookkeeping (its load ids and schema versions) and its staging copies are not data.
_DATA_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables"
    " WHERE table_type = 'BASE TABLE'"
    " AND table_schema NOT IN ('main', 'information_schema', 'pg_catalog')"
    " AND NOT ends_with(table_schema, '_staging') AND NOT starts_with(table_name, '_dlt_')"
)


@dataclass(frozen=True)
class TableCount:
    source: str
    table: str
    rows: int


def tables(cursor: duckdb.DuckDBPyConnection, source: str | None = None) -> list[TableCount]:
    found = cursor.execute(
        _DATA_TABLES + " AND ($source IS NULL OR table_schema = $source) ORDER BY 1, 2",
        {"source": source},
    ).fetchall()
    counted = []
    for schema, table in found:
        row = cursor.execute(f"SELECT count(*) FROM {ident(schema)}.{ident(table)}").fetchone()
        counted.append(TableCount(schema, table, int(row[0]) if row else 0))
    return counted


def exists(cursor: duckdb.DuckDBPyConnection, source: str, table: str) -> bool:
    return bool(
        cursor.execute(
            _DATA_TABLES + " AND table_schema = $source AND table_name = $table",
            {"source": source, "table": table},
        ).fetchall()
    )


@dataclass(frozen=True)
class Preview:
    columns: list[tuple[str, str]]  # name, SQL type
    row_count: int
    rows: list[list[Any]]


def preview(cursor: duckdb.DuckDBPyConnection, source: str, table: str, limit: int) -> Preview:
    """Columns, row count and the first `limit` rows; the caller checked that the table exists."""
    columns = cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [source, table],
    ).fetchall()
    name = f"{ident(source)}.{ident(table)}"
    count = cursor.execute(f"SELECT count(*) FROM {name}").fetchone()
    rows = cursor.execute(f"SELECT * FROM {name} LIMIT ?", [limit]).fetchall()
    return Preview(
        [(str(c), str(t)) for c, t in columns],
        int(count[0]) if count else 0,
        [[to_json_value(v) for v in row] for row in rows],
    )
