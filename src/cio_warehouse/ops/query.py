"""Read-only SQL on a running service's warehouse, and the cursor other reads use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cio_warehouse.ops.errors import OpsError, Refusal
from cio_warehouse.ops.ports import Warehouse
from cio_warehouse.ops.sources import known_source
from cio_warehouse.state import StateStore
from cio_warehouse.warehouse.query import QueryError, execute
from cio_warehouse.warehouse.readers import SqlCursor, WarehouseUnavailable
from cio_warehouse.warehouse.values import to_json_value


@contextmanager
def warehouse_cursor(warehouse: Warehouse, source: str | None = None) -> Iterator[SqlCursor]:
    """A cursor on `source`'s warehouse (else the shared one); UNAVAILABLE when it cannot be
    reached."""
    try:
        cursor = warehouse.cursor(source)
    except WarehouseUnavailable as exc:
        raise OpsError(str(exc), kind=Refusal.UNAVAILABLE) from None
    except QueryError as exc:
        raise OpsError(str(exc)) from None
    try:
        yield cursor
    finally:
        cursor.close()


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[object]]
    truncated: bool


def run_query(store: StateStore, warehouse: Warehouse, sql: str, max_rows: int,
              source: str | None = None) -> QueryResult:
    """Read-only SQL (checked by warehouse/query.py), at most `max_rows` rows, on `source`'s
    warehouse (else the one every source shares)."""
    if source is not None:
        known_source(store, source)
    with warehouse_cursor(warehouse, source) as cursor:
        try:
            result = execute(cursor, sql, max_rows)
        except QueryError as exc:
            raise OpsError(str(exc), "sql") from None
    return QueryResult(
        columns=list(result.columns),
        rows=[[to_json_value(v) for v in row] for row in result.rows],
        truncated=result.truncated,
    )
