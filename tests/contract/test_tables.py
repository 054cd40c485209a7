"""Every App API table of the catalog lands from the sandbox with its rows, columns and types,
in the embedded DuckDB and in a real PostgreSQL: the same contract, read back by each engine's own
client (not through the product's query path)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest

from cio_warehouse import catalog
from cio_warehouse.sandbox import Behaviour, SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync.runner import run_sync
from tests.helpers import add_source
from tests.services.postgres import PostgresServer

TYPE_OF = {
    "duckdb": {"timestamp": "TIMESTAMP WITH TIME ZONE", "json": "JSON"},
    "postgres": {"timestamp": "timestamp with time zone", "json": "json"},
}


class Engine:
    """The warehouse as its own client sees it: `?` placeholders, one row back."""

    def __init__(self, name: str, store: StateStore, url: str | None) -> None:
        self.name = name
        if url is None:
            self._con: Any = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
        else:
            import psycopg2

            self._con = psycopg2.connect(url)
            self._con.autocommit = True

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        if self.name == "duckdb":
            row = self._con.execute(sql, params).fetchone()
        else:
            cursor = self._con.cursor()
            cursor.execute(sql.replace("?", "%s"), params)
            row = cursor.fetchone()
        return tuple(row)

    def all(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if self.name == "duckdb":
            return self._con.execute(sql, params).fetchall()  # type: ignore[no-any-return]
        cursor = self._con.cursor()
        cursor.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._con.close()


@pytest.fixture(scope="module", params=["docs", "live"])
def workspace(request: pytest.FixtureRequest) -> Workspace:
    """The docs' reading and the live one (docs/customerio-behaviour.md): hidden=true lists only
    the hidden senders, lists end with a cursor and an empty page, unpaged lists page."""
    behaviour = Behaviour.live() if request.param == "live" else Behaviour()
    return Workspace.preset("small", seed=11, behaviour=behaviour)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def engine_url(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "duckdb":
        return "duckdb", None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return "postgres", server.create_database("contract_" + secrets.token_hex(4))


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory,
    workspace: Workspace,
    engine_url: tuple[str, str | None],
) -> Iterator[StateStore]:
    """One full sync of every table per engine for the whole module (a sync costs seconds)."""
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path_factory.mktemp("contract") / "data"))
    with SandboxServer(workspace, api_key=key) as sandbox:
        add_source(store, sandbox, key)
        url = engine_url[1]
        if url is not None:
            source = store.get_source("acme")
            store.update_source(replace(source, destination=Secret(url)))
        outcomes = run_sync(store, "acme")
        assert [o.error for o in outcomes if o.error] == []
        yield store


@pytest.fixture
def synced(store: StateStore, engine_url: tuple[str, str | None]) -> Iterator[Engine]:
    engine = Engine(engine_url[0], store, engine_url[1])
    yield engine
    engine.close()


def _columns(engine: Engine, table: str) -> dict[str, str]:
    rows = engine.all(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'acme' and table_name = ?",
        [table],
    )
    return dict(rows)


def _non_null_fields(rows: list[dict[str, Any]]) -> set[str]:
    return {key for row in rows for key, value in row.items() if value is not None}


@pytest.mark.parametrize("table", [t.name for t in catalog.API_TABLES])
def test_table_lands_whole(
    synced: Engine, workspace: Workspace, table: str
) -> None:
    entry = catalog.get(table)
    expected = list(workspace.rows(table, hidden=True))
    count = synced.one(f"select count(*) from acme.{table}")
    assert count == (len(expected),)
    # Keys unique, as the catalog's primary key promises.
    distinct = synced.one(f"select count(distinct {entry.primary_key}) from acme.{table}")
    assert distinct == (len(expected),)
    columns = _columns(synced, table)
    for field in _non_null_fields(expected):
        # A value that does not fit its column lands in a variant column beside it.
        assert field in columns or any(c.startswith(f"{field}__v_") for c in columns), field
    for field in entry.timestamp_fields:
        if field in columns:
            assert columns[field] == TYPE_OF[synced.name]["timestamp"], field
    for field in entry.json_fields:
        if field in columns:
            assert columns[field] == TYPE_OF[synced.name]["json"], field


def test_timestamps_are_the_api_unix_seconds(
    synced: Engine, workspace: Workspace
) -> None:
    first = next(workspace.rows("campaigns"))
    loaded = synced.one(
        "select cast(extract(epoch from created) as bigint) from acme.campaigns where id = ?",
        [first["id"]],
    )
    assert loaded == (first["created"],)


@pytest.mark.parametrize(
    ("table", "field"),
    [("newsletters", "scheduled_at"), ("campaigns", "scheduled_start"),
     ("campaigns", "scheduled_stop")],
)
def test_scheduled_times_are_timestamps_and_zero_is_null(
    synced: Engine, workspace: Workspace, table: str, field: str
) -> None:
    """docs/customerio-behaviour.md: these are unix seconds like their siblings, and a 0 is
    Customer.io's "never": NULL, not 1970-01-01."""
    assert _columns(synced, table)[field] == TYPE_OF[synced.name]["timestamp"]
    rows = list(workspace.rows(table))
    zeros = sum(1 for row in rows if row[field] == 0)
    assert 0 < zeros < len(rows), "the sandbox should generate both"
    assert synced.one(f"select count(*) from acme.{table} where {field} is null") == (zeros,)
    epoch_year = synced.one(f"select count(*) from acme.{table} where {field} < ?",
                            [datetime(1971, 1, 1, tzinfo=UTC)])
    assert epoch_year == (0,)
    scheduled = next(row for row in rows if row[field])
    loaded = synced.one(
        f"select cast(extract(epoch from {field}) as bigint) from acme.{table} where id = ?",
        [scheduled["id"]],
    )
    assert loaded == (scheduled[field],)


def test_nested_lists_are_queryable(
    synced: Engine, workspace: Workspace
) -> None:
    """campaigns.tags is a JSON array: filter on an element with the engine's JSON functions."""
    campaigns = list(workspace.rows("campaigns"))
    tagged = [c for c in campaigns if isinstance(c.get("tags"), list) and c["tags"]]
    assert tagged, "the sandbox should generate tagged campaigns"
    tag = tagged[0]["tags"][0]
    expected = sum(1 for c in workspace.rows("campaigns") if tag in (c.get("tags") or []))
    contains, unnest = {
        "duckdb": ("list_contains(tags::varchar[], ?)",
                   "unnest(from_json(actions, '[\"json\"]'))"),
        "postgres": ("tags::jsonb @> jsonb_build_array(?::text)", "json_array_elements(actions)"),
    }[synced.name]
    found = synced.one(f"select count(*) from acme.campaigns where {contains}", [tag])
    assert found == (expected,)
    actions = sum(len(c.get("actions") or []) for c in workspace.rows("campaigns"))
    unnested = synced.one(f"select count(*) from (select {unnest} from acme.campaigns) as a")
    assert unnested == (actions,)


def test_hidden_sender_identities_are_included(
    synced: Engine, workspace: Workspace
) -> None:
    assert workspace.expected_rows("sender_identities", hidden=True) > workspace.expected_rows(
        "sender_identities", hidden=False
    )
    count = synced.one("select count(*) from acme.sender_identities")
    assert count == (workspace.expected_rows("sender_identities", hidden=True),)


def test_second_sync_replaces_rather_than_appends(
    store: StateStore, workspace: Workspace, api_key: str, engine_url: tuple[str, str | None]
) -> None:
    with SandboxServer(workspace, api_key=api_key) as sandbox:
        source = store.get_source("acme")
        store.update_source(replace(source, api_base_url=sandbox.url, app_api_key=Secret(api_key)))
        outcomes = run_sync(store, "acme", ["newsletters"])
    assert outcomes[0].status == "succeeded"
    engine = Engine(engine_url[0], store, engine_url[1])
    try:
        count = engine.one("select count(*) from acme.newsletters")
        loads = engine.one("select count(distinct _dlt_load_id) from acme.newsletters")
    finally:
        engine.close()
    assert count == (workspace.expected_rows("newsletters"),)
    assert loads == (1,)


def test_runs_are_recorded_with_rows_and_pages(
    synced: Engine, store: StateStore, workspace: Workspace
) -> None:
    runs = store.last_runs("acme")
    assert set(runs) == {t.name for t in catalog.API_TABLES}
    newsletters = store.runs("acme", "newsletters")[-1]  # the module's first sync
    assert newsletters.status == "succeeded"
    assert newsletters.rows == workspace.expected_rows("newsletters")
    trailing = 1 if workspace.behaviour.trailing_empty_page else 0  # the empty last page
    assert newsletters.pages == -(-workspace.expected_rows("newsletters") // 100) + trailing
    assert newsletters.ended_at is not None and newsletters.ended_at >= newsletters.started_at


def test_a_table_with_no_rows_yet_exists_empty_and_takes_rows_later(
    tmp_path_factory: pytest.TempPathFactory,
    engine_url: tuple[str, str | None],
    request: pytest.FixtureRequest,
) -> None:
    """A new workspace has no collections, snippets, ...: queries on those tables must answer 0,
    not fail, and the first rows must land in the same table, with the key type unchanged."""
    engine_name, url = engine_url
    if url is not None:  # a database of its own: the module's holds the full workspace
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database("empty_" + secrets.token_hex(4))
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path_factory.mktemp("empty") / "data"))
    key_types = {"duckdb": {"bigint": "BIGINT", "text": "VARCHAR"},
                 "postgres": {"bigint": "bigint", "text": "character varying"}}[engine_name]
    nothing = Workspace.preset("small", seed=5, **{t.name: 0 for t in catalog.API_TABLES})
    for workspace in (nothing, Workspace.preset("tiny", seed=5)):
        with SandboxServer(workspace, api_key=key) as sandbox:
            if not store.source_names():
                add_source(store, sandbox, key)
            source = store.get_source("acme")
            store.update_source(replace(source, api_base_url=sandbox.url,
                                        destination=Secret(url) if url else None))
            outcomes = run_sync(store, "acme")
        assert [o.error for o in outcomes if o.error] == []
        engine = Engine(engine_name, store, url)
        try:
            for table in catalog.API_TABLES:
                count = engine.one(f"select count(*) from acme.{table.name}")[0]
                assert count == workspace.expected_rows(table.name), table.name
                columns = _columns(engine, table.name)
                assert columns[table.primary_key] == key_types[table.primary_key_type], table
                for field in table.timestamp_fields:
                    assert columns[field] == TYPE_OF[engine_name]["timestamp"], (table, field)
                for field in table.json_fields:
                    assert columns[field] == TYPE_OF[engine_name]["json"], (table, field)
        finally:
            engine.close()


@pytest.mark.parametrize("behaviour", [Behaviour(), Behaviour.live()], ids=["docs", "live"])
def test_a_workspace_without_hidden_senders_keeps_its_senders(
    tmp_path_factory: pytest.TempPathFactory, behaviour: Behaviour
) -> None:
    """Live, `hidden=true` lists only hidden senders: a workspace with none got an empty table
    when that was the only read (docs/customerio-behaviour.md)."""
    def hides_none(seed: int) -> bool:
        return not any(Workspace(seed).is_hidden("sender_identities", i) for i in range(3))

    seed = next(s for s in range(1, 100) if hides_none(s))
    workspace = Workspace(seed, sender_identities=3, behaviour=behaviour)
    assert workspace.expected_rows("sender_identities", hidden=False) == 3
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path_factory.mktemp("visible") / "data"))
    with SandboxServer(workspace, api_key=key) as sandbox:
        add_source(store, sandbox, key, tables=("sender_identities",))
        outcomes = run_sync(store, "acme")
    assert [(o.status, o.rows) for o in outcomes] == [("succeeded", 3)]
    engine = Engine("duckdb", store, None)
    try:
        loaded = engine.all("select id, hidden from acme.sender_identities order by id", [])
    finally:
        engine.close()
    assert loaded == [(row["id"], False) for row in workspace.rows("sender_identities")]


def test_live_null_lists_land_as_empty_tables(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Live, an empty list can come as null (docs/customerio-behaviour.md): every table still
    exists, empty, instead of failing."""
    workspace = Workspace(5, behaviour=Behaviour.live(), **{t.name: 0 for t in catalog.API_TABLES})
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path_factory.mktemp("null") / "data"))
    with SandboxServer(workspace, api_key=key) as sandbox:
        add_source(store, sandbox, key)
        outcomes = run_sync(store, "acme")
    assert [o.error for o in outcomes if o.error] == []
    engine = Engine("duckdb", store, None)
    try:
        for table in catalog.API_TABLES:
            assert engine.one(f"select count(*) from acme.{table.name}") == (0,), table.name
    finally:
        engine.close()
