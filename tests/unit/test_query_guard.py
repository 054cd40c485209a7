"""Read-only SQL on DuckDB reads the warehouse's tables, never the machine's files or env."""

from __future__ import annotations

import duckdb
import pytest

from cio_warehouse.warehouse.query import QueryError, execute
from cio_warehouse.warehouse.readers import SqlCursor


@pytest.fixture
def cursor() -> SqlCursor:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA acme; CREATE TABLE acme.campaigns AS SELECT 1 AS id, 'a' AS name")
    return SqlCursor(con, "duckdb")


@pytest.mark.parametrize("sql", [
    "select * from read_text('/etc/passwd')",
    "select * from read_csv('/etc/passwd')",
    "select count(*) from (select * from read_blob('/etc/hostname'))",
    "from '/etc/passwd'",
    "select * from 'data.parquet'",
    "select * from glob('/*')",
    "select getenv('HOME')",
    "with x as (select 1) select * from x, read_json('/tmp/x.json')",
    "select * from sqlite_scan('/tmp/x.db', 't')",
])
def test_file_and_environment_reads_are_refused(cursor: SqlCursor, sql: str) -> None:
    with pytest.raises(QueryError, match="not allowed here|not a table of the warehouse"):
        execute(cursor, sql, 10)


@pytest.mark.parametrize(("sql", "rows"), [
    ("select name from acme.campaigns", [("a",)]),
    ("from acme.campaigns select id", [(1,)]),
    ("select count(*) from range(3)", [(3,)]),
    ("select unnest([1, 2]) as n", [(1,), (2,)]),
    ("with c as (select * from acme.campaigns) select id from c", [(1,)]),
])
def test_ordinary_reads_run(cursor: SqlCursor, sql: str, rows: list[tuple[object, ...]]) -> None:
    assert execute(cursor, sql, 10).rows == rows


@pytest.mark.parametrize(
    "sql", ["describe acme.campaigns", "show tables", "summarize acme.campaigns"]
)
def test_describe_show_and_summarize_run(cursor: SqlCursor, sql: str) -> None:
    assert execute(cursor, sql, 10).columns


@pytest.mark.parametrize("sql", [
    "copy acme.campaigns to '/tmp/out.csv'", "attach '/tmp/x.db'", "install httpfs",
    "set enable_external_access = true", "delete from acme.campaigns",
])
def test_statements_that_are_not_reads_are_refused(cursor: SqlCursor, sql: str) -> None:
    with pytest.raises(QueryError, match="Only read-only queries"):
        execute(cursor, sql, 10)
