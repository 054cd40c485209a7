"""The table browser: which tables each source's schema holds, their columns and first rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cio_warehouse.warehouse.readers import SqlCursor
from cio_warehouse.warehouse.values import to_json_value
from cio_warehouse.web.analytics import ident

# dlt's bookkeeping (its load ids and schema versions) and its staging copies are not data.
# Portable SQL: DuckDB and PostgreSQL both run it. Delta Lake tables are views in the embedded
# DuckDB that reads them.
_DATA_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables"
    " WHERE table_type IN ('BASE TABLE', 'VIEW')"
    " AND table_schema NOT IN ('main', 'public', 'information_schema', 'pg_catalog')"
    " AND right(table_schema, 8) <> '_staging' AND left(table_name, 5) <> '_dlt_'"
)


@dataclass(frozen=True)
class TableCount:
    source: str
    table: str
    rows: int


def tables(cursor: SqlCursor, sources: list[str] | None = None) -> list[TableCount]:
    """The data tables of `sources` (all the warehouse holds if None)."""
    found = [
        (schema, table)
        for schema, table in cursor.execute(_DATA_TABLES + " ORDER BY 1, 2", []).fetchall()
        if sources is None or schema in sources
    ]
    counted = []
    for schema, table in found:
        row = cursor.execute(f"SELECT count(*) FROM {ident(schema)}.{ident(table)}").fetchone()
        counted.append(TableCount(schema, table, int(row[0]) if row else 0))
    return counted


def exists(cursor: SqlCursor, source: str, table: str) -> bool:
    return bool(
        cursor.execute(
            _DATA_TABLES + " AND table_schema = ? AND table_name = ?", [source, table]
        ).fetchall()
    )


@dataclass(frozen=True)
class Preview:
    columns: list[tuple[str, str]]  # name, SQL type
    row_count: int
    rows: list[list[Any]]


def preview(cursor: SqlCursor, source: str, table: str, limit: int) -> Preview:
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
