"""What the webhook missed, when the warehouse cannot be read: nothing, never an error (the
webhook's status around it must still show)."""

from __future__ import annotations

import duckdb

from cio_warehouse.warehouse.readers import SqlCursor
from cio_warehouse.web.analytics import missed_deliveries


def test_a_warehouse_that_cannot_be_read_says_nothing_missed() -> None:
    con = duckdb.connect()
    cursor = SqlCursor(con.cursor(), "duckdb")
    con.close()  # its cursors go with it: every statement now fails
    assert missed_deliveries(cursor, "acme") == []


def test_a_source_with_no_table_yet_missed_nothing() -> None:
    con = duckdb.connect()
    try:
        assert missed_deliveries(SqlCursor(con.cursor(), "duckdb"), "acme") == []
    finally:
        con.close()
