"""Every App API table of the catalog lands from the sandbox with its rows, columns and types."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import duckdb
import pytest

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync.runner import run_sync
from tests.helpers import add_source

TYPE_OF = {"timestamp": "TIMESTAMP WITH TIME ZONE", "json": "JSON"}


@pytest.fixture(scope="module")
def workspace() -> Workspace:
    return Workspace.preset("small", seed=11)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, workspace: Workspace) -> Iterator[StateStore]:
    """One full sync of every table for the whole module (a sync costs seconds)."""
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path_factory.mktemp("contract") / "data"))
    with SandboxServer(workspace, api_key=key) as sandbox:
        add_source(store, sandbox, key)
        outcomes = run_sync(store, "acme")
        assert [o.error for o in outcomes if o.error] == []
        yield store


@pytest.fixture
def synced(store: StateStore) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    yield con
    con.close()


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'acme' and table_name = ?",
        [table],
    ).fetchall()
    return dict(rows)


def _non_null_fields(rows: list[dict[str, Any]]) -> set[str]:
    return {key for row in rows for key, value in row.items() if value is not None}


@pytest.mark.parametrize("table", [t.name for t in catalog.API_TABLES])
def test_table_lands_whole(
    synced: duckdb.DuckDBPyConnection, workspace: Workspace, table: str
) -> None:
    entry = catalog.get(table)
    expected = list(workspace.rows(table, hidden=True))
    count = synced.execute(f"select count(*) from acme.{table}").fetchone()
    assert count == (len(expected),)
    # Keys unique, as the catalog's primary key promises.
    distinct = synced.execute(
        f"select count(distinct {entry.primary_key}) from acme.{table}"
    ).fetchone()
    assert distinct == (len(expected),)
    columns = _columns(synced, table)
    for field in _non_null_fields(expected):
        # A value that does not fit its column lands in a variant column beside it.
        assert field in columns or any(c.startswith(f"{field}__v_") for c in columns), field
    for field in entry.timestamp_fields:
        if field in columns:
            assert columns[field] == TYPE_OF["timestamp"], field
    for field in entry.json_fields:
        if field in columns:
            assert columns[field] == TYPE_OF["json"], field


def test_timestamps_are_the_api_unix_seconds(
    synced: duckdb.DuckDBPyConnection, workspace: Workspace
) -> None:
    first = next(workspace.rows("campaigns"))
    loaded = synced.execute(
        "select epoch(created)::bigint from acme.campaigns where id = ?", [first["id"]]
    ).fetchone()
    assert loaded == (first["created"],)


def test_nested_lists_are_queryable(
    synced: duckdb.DuckDBPyConnection, workspace: Workspace
) -> None:
    """campaigns.tags is a JSON array: filter on an element with DuckDB's JSON functions."""
    campaigns = list(workspace.rows("campaigns"))
    tagged = [c for c in campaigns if isinstance(c.get("tags"), list) and c["tags"]]
    assert tagged, "the sandbox should generate tagged campaigns"
    tag = tagged[0]["tags"][0]
    expected = sum(1 for c in workspace.rows("campaigns") if tag in (c.get("tags") or []))
    found = synced.execute(
        "select count(*) from acme.campaigns where list_contains(tags::varchar[], ?)", [tag]
    ).fetchone()
    assert found == (expected,)
    actions = sum(len(c.get("actions") or []) for c in workspace.rows("campaigns"))
    unnested = synced.execute(
        "select count(*) from (select unnest(from_json(actions, '[\"json\"]')) from acme.campaigns)"
    ).fetchone()
    assert unnested == (actions,)


def test_hidden_sender_identities_are_included(
    synced: duckdb.DuckDBPyConnection, workspace: Workspace
) -> None:
    assert workspace.expected_rows("sender_identities", hidden=True) > workspace.expected_rows(
        "sender_identities", hidden=False
    )
    count = synced.execute("select count(*) from acme.sender_identities").fetchone()
    assert count == (workspace.expected_rows("sender_identities", hidden=True),)


def test_second_sync_replaces_rather_than_appends(
    store: StateStore, workspace: Workspace, api_key: str
) -> None:
    with SandboxServer(workspace, api_key=api_key) as sandbox:
        source = store.get_source("acme")
        store.update_source(replace(source, api_base_url=sandbox.url, app_api_key=Secret(api_key)))
        outcomes = run_sync(store, "acme", ["newsletters"])
    assert outcomes[0].status == "succeeded"
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    try:
        count = con.execute("select count(*) from acme.newsletters").fetchone()
        loads = con.execute("select count(distinct _dlt_load_id) from acme.newsletters").fetchone()
    finally:
        con.close()
    assert count == (workspace.expected_rows("newsletters"),)
    assert loads == (1,)


def test_runs_are_recorded_with_rows_and_pages(
    synced: duckdb.DuckDBPyConnection, store: StateStore, workspace: Workspace
) -> None:
    runs = store.last_runs("acme")
    assert set(runs) == {t.name for t in catalog.API_TABLES}
    newsletters = store.runs("acme", "newsletters")[-1]  # the module's first sync
    assert newsletters.status == "succeeded"
    assert newsletters.rows == workspace.expected_rows("newsletters")
    assert newsletters.pages == -(-workspace.expected_rows("newsletters") // 100)
    assert newsletters.ended_at is not None and newsletters.ended_at >= newsletters.started_at
