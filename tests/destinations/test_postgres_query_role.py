"""Queries on PostgreSQL as the SELECT-only role docs/destinations.md describes: the server itself
refuses writes, files and settings, even with no query guard in front."""

from __future__ import annotations

import secrets
from dataclasses import replace
from urllib.parse import urlsplit

import psycopg2
import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.state import StateStore
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.admin import check_destination
from cio_warehouse.warehouse.query import run_query
from cio_warehouse.warehouse.readers import WarehouseUnavailable, open_cursor
from tests.helpers import add_source
from tests.security.hostile_sql import Canary

# The statements the guard refuses, sent to the server as they are.
UNGUARDED = [
    "DELETE FROM acme.campaigns",
    "DROP TABLE acme.campaigns",
    "CREATE TABLE acme.loot AS SELECT 1 AS x",
    "WITH d AS (DELETE FROM acme.campaigns RETURNING *) SELECT * FROM d",
    "EXPLAIN ANALYZE DELETE FROM acme.campaigns",
    "SELECT pg_read_file('{secret}')",
    "SELECT pg_ls_dir('.')",
    "COPY acme.campaigns TO '{out}'",
    "COPY (SELECT 1) TO PROGRAM 'touch {out}'",
    "SET default_transaction_read_only = off; DELETE FROM acme.campaigns",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM acme.campaigns",
]


def _role_sql(loader: str, reader: str, password: str) -> str:
    """docs/destinations.md's statements, word for word but the names."""
    return (
        f"CREATE ROLE {reader} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE;"
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {loader} GRANT USAGE ON SCHEMAS TO {reader};"
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {loader} GRANT SELECT ON TABLES TO {reader};"
    )


def test_queries_log_in_as_the_select_only_role(
    store: StateStore, sandbox: SandboxServer, api_key: str, postgres_url: str,
    postgres_server, tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    database = urlsplit(postgres_url).path.lstrip("/")
    reader, password = "reader_" + secrets.token_hex(4), secrets.token_urlsafe(12)
    postgres_server.psql(_role_sql(postgres_server.user, reader, password), database=database)
    url = f"{postgres_url}?query_user={reader}&query_password={password}"
    target = destination.parse(url)
    check_destination(target)  # both logins work
    assert password not in mask_url(url) and password not in target.display()

    source = add_source(store, sandbox, api_key, tables=("campaigns", "segments"))
    store.update_source(replace(source, destination=Secret(url)))
    assert all(o.status == "succeeded" for o in run_sync(store, "acme", ["campaigns"]))
    rows = run_query(store.data_dir, "select count(*), current_user from acme.campaigns")
    assert rows.rows[0][0] > 0 and rows.rows[0][1] == reader
    # A table the loader creates later is readable too (the default privileges).
    assert all(o.status == "succeeded" for o in run_sync(store, "acme", ["segments"]))
    assert run_query(store.data_dir, "select count(*) from acme.segments").rows[0][0] > 0

    canary = Canary.plant(tmp_path / "canary")
    before = run_query(store.data_dir, "select count(*) from acme.campaigns").rows
    for template in UNGUARDED:
        cursor = open_cursor(target, store.data_dir, ["acme"])
        try:
            with pytest.raises(psycopg2.Error):
                cursor.execute(canary.fill(template))
        finally:
            cursor.close()
    assert canary.untouched() == []
    assert run_query(store.data_dir, "select count(*) from acme.campaigns").rows == before


def test_a_wrong_query_password_is_refused_at_source_add(postgres_url: str,
                                                         postgres_server) -> None:  # type: ignore[no-untyped-def]
    database = urlsplit(postgres_url).path.lstrip("/")
    reader = "reader_" + secrets.token_hex(4)
    postgres_server.psql(_role_sql(postgres_server.user, reader, "right"), database=database)
    with pytest.raises(WarehouseUnavailable, match="Could not connect to PostgreSQL"):
        check_destination(destination.parse(f"{postgres_url}?query_user={reader}&query_password=wrong"))
