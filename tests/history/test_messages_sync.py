"""Message history against the sandbox's /v1/messages, on DuckDB and PostgreSQL: day windows,
the lookback that picks up metrics arriving later, forgotten deliveries, the `deliveries` view,
and both the docs' and the live reading of the API (docs/customerio-behaviour.md)."""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import duckdb
import pytest

from cio_warehouse import catalog
from cio_warehouse.sandbox import Behaviour, SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.sync.source_tables import ensure_source_tables
from cio_warehouse.warehouse import deliveries
from tests.helpers import CLI, add_source, wait_until
from tests.services.postgres import PostgresServer

DAY = 86_400
# The sandbox's clock runs 3 days behind the product's: its later days are still to come.
BEHIND = 3 * DAY
# Five days of sends at one every two minutes: ~3,600 deliveries, four pages a day.
SANDBOX_DAYS = 5
GAP_MS = 120_000


class Warehouse:
    """The engine as its own client sees it (DuckDB: open only between syncs, as a second
    configuration of the file in this process would stop the product's)."""

    def __init__(self, store: StateStore, url: str | None) -> None:
        self.postgres = url is not None
        if url is None:
            self._con: Any = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
        else:
            import psycopg2

            self._con = psycopg2.connect(url)
            self._con.autocommit = True

    def all(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.postgres:
            return self._con.execute(sql).fetchall()  # type: ignore[no-any-return]
        cursor = self._con.cursor()
        cursor.execute(sql)
        return cursor.fetchall()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._con.close()


@pytest.fixture(params=["docs", "live"])
def behaviour(request: pytest.FixtureRequest) -> Behaviour:
    return Behaviour.live() if request.param == "live" else Behaviour()


@pytest.fixture(params=["duckdb", "postgres"])
def engine_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "duckdb":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database("history_" + secrets.token_hex(4))


@pytest.fixture
def history(behaviour: Behaviour, api_key: str) -> Iterator[SandboxServer]:
    workspace = Workspace.preset("small", seed=21, behaviour=behaviour)
    with SandboxServer(
        workspace, api_key=api_key, rate_limit_rps=None, events_start=int(time.time()) - BEHIND,
        history_days=SANDBOX_DAYS, delivery_gap_ms=GAP_MS,
    ) as server:
        yield server


def linked(store: StateStore, sandbox: SandboxServer, api_key: str, url: str | None) -> None:
    add_source(store, sandbox, api_key, tables=("messages",), max_rps=0, history_days=30)
    if url is not None:
        source = store.get_source("acme")
        store.update_source(replace(source, destination=Secret(url)))


def sync(store: StateStore) -> None:
    outcomes = run_sync(store, "acme", ["messages"])
    assert [(o.table, o.status, o.error) for o in outcomes] == [("messages", "succeeded", None)]


def windows(sandbox: SandboxServer) -> list[tuple[int, int, int]]:
    """(start_ts, end_ts, limit) of every /v1/messages request, in order."""
    found = []
    for request in sandbox.requests():
        if request.path == "/v1/messages":
            query = {k: v[0] for k, v in parse_qs(request.query).items()}
            found.append((int(query["start_ts"]), int(query["end_ts"]), int(query["limit"])))
    return found


def loaded(warehouse: Warehouse) -> dict[str, tuple[Any, ...]]:
    rows = warehouse.all(
        "select id, created, sent_at, opened_at, clicked_at, forgotten, recipient"
        " from acme.messages")
    return {row[0]: row[1:] for row in rows}


def oracle(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in sandbox.history_rows()}


def same_metrics(stored: tuple[Any, ...], row: dict[str, Any]) -> bool:
    created, sent_at, opened_at, clicked_at, forgotten, recipient = stored
    metrics = row["metrics"]

    def at(value: Any) -> int | None:
        return None if value is None else int(value.timestamp())

    return (at(created), at(sent_at), at(opened_at), at(clicked_at), forgotten, recipient) == (
        row["created"], metrics.get("sent"), metrics.get("opened"), metrics.get("clicked"),
        row["forgotten"], row["recipient"])


def test_history_lands_then_later_metrics_and_forgotten_merge_in(
    history: SandboxServer, api_key: str, data_dir: DataDir, engine_url: str | None
) -> None:
    store = StateStore(data_dir)
    linked(store, history, api_key, engine_url)
    sync(store)

    # Every delivery of the 30 days asked for, in windows of at most a UTC day, 1000 a page.
    first = windows(history)
    assert all(limit == 1000 for _, _, limit in first)
    assert all(0 < end - start <= DAY and (end % DAY == 0 or end == first[-1][1])
               for start, end, _ in first)
    assert [s for s, _, _ in first[1:]] == sorted(s for s, _, _ in first[1:])
    mark = store.sync_mark("acme", "messages")
    assert mark.synced_until == first[-1][1] and not mark.stopped_early
    warehouse = Warehouse(store, engine_url)
    try:
        expected = oracle(history)
        assert len(expected) > 3_000
        rows = loaded(warehouse)
        assert rows.keys() == expected.keys()
        bad = [(rows[i], expected[i]) for i in expected if not same_metrics(rows[i], expected[i])]
        assert not bad, bad[:1]
        [(count, distinct, in_history)] = warehouse.all(
            "select count(*), count(distinct delivery_id), count(*) filter (where from_history)"
            " from acme.deliveries")
        assert count == distinct == in_history == len(expected)
    finally:
        warehouse.close()

    # Two days later (the sandbox's clock), opens and clicks came to earlier deliveries, some
    # were forgotten, new ones were sent; the lookback reads them, the merge keeps one row per id.
    history.clear_requests()
    history.advance_clock(2 * DAY)
    sync(store)
    second = windows(history)
    assert second[0][0] == int(mark.synced_until or 0) - 7 * DAY
    warehouse = Warehouse(store, engine_url)
    try:
        later = oracle(history)
        rows = loaded(warehouse)
        assert rows.keys() == later.keys() and len(later) > len(expected)
        # What the lookback re-read is as Customer.io has it now; what is older, as first read.
        reread = {i for i, row in later.items() if row["created"] >= second[0][0]}
        assert reread and reread != later.keys()
        assert all(same_metrics(rows[i], later[i] if i in reread else expected[i]) for i in later)
        grew = [i for i in reread & expected.keys()
                if expected[i]["metrics"] != later[i]["metrics"]]
        forgotten = [i for i in reread & expected.keys()
                     if later[i]["forgotten"] and not expected[i]["forgotten"]]
        assert grew and forgotten, (len(grew), len(forgotten))
        [(count, distinct)] = warehouse.all(
            "select count(*), count(distinct id) from acme.messages")
        assert count == distinct == len(later)
    finally:
        warehouse.close()


def test_typed_columns_for_every_metric(
    history: SandboxServer, api_key: str, store: StateStore
) -> None:
    linked(store, history, api_key, None)
    sync(store)
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    try:
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'acme' and table_name = 'messages'").fetchall())
    finally:
        con.close()
    for column in catalog.MESSAGE_COLUMNS:
        expected = {"timestamp": "TIMESTAMP WITH TIME ZONE", "json": "JSON", "bigint": "BIGINT",
                    "text": "VARCHAR", "bool": "BOOLEAN"}[column.data_type]
        assert types[column.name] == expected, column.name


def test_a_killed_sync_keeps_its_committed_windows_and_the_next_resumes_there(
    api_key: str, store: StateStore, engine_url: str | None
) -> None:
    """kill -9 during the second load: the table holds exactly the first load's windows, and the
    next sync starts at their end (no lookback before it), then matches Customer.io."""
    workspace = Workspace.preset("small", seed=22)
    # ~216,000 deliveries over 3 or 4 UTC days, whatever the time of day: at least two loads
    # (a load closes after the window that takes it past history.LOAD_ROWS, 100,000 rows).
    with SandboxServer(workspace, api_key=api_key, rate_limit_rps=None, history_days=2.5,
                       delivery_gap_ms=1_000) as sandbox:
        linked(store, sandbox, api_key, engine_url)
        sync_process = subprocess.Popen(
            [str(CLI), "--data-dir", str(store.data_dir.root), "sync", "acme",
             "--table", "messages"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            committed = wait_until(
                lambda: store.sync_mark("acme", "messages").synced_until,
                "the first load to commit", timeout=120)
            sync_process.send_signal(signal.SIGKILL)
        finally:
            sync_process.kill()
            sync_process.wait()
        mark = store.sync_mark("acme", "messages")
        assert mark.synced_until == committed and mark.stopped_early

        start = int(mark.target_until or 0) - 30 * DAY
        assert ids_of(store, engine_url) == set(sandbox.history_ids(start, int(committed)))

        sandbox.clear_requests()
        sync(store)
        assert windows(sandbox)[0][0] == int(committed)
        end = int(store.sync_mark("acme", "messages").synced_until or 0)
        assert ids_of(store, engine_url) == set(sandbox.history_ids(start, end))


def test_a_raised_history_days_reaches_back_newest_day_first(
    history: SandboxServer, api_key: str, store: StateStore
) -> None:
    add_source(store, history, api_key, tables=("messages",), max_rps=0, history_days=4,
               lookback_days=1)
    sync(store)
    first = store.sync_mark("acme", "messages")
    assert first.synced_from == int(first.target_until or 0) - 4 * DAY
    older = set(history.history_ids(0, int(first.synced_from)))
    assert older, "the sandbox has history older than the 4 days asked for"
    assert not ids_of(store, None) & older

    source = store.get_source("acme")
    store.update_source(replace(source, settings=replace(source.settings, history_days=30)))
    history.clear_requests()
    sync(store)
    second = store.sync_mark("acme", "messages")
    backfill = [w for w in windows(history) if w[0] < int(first.synced_from)]
    assert backfill[0][1] == first.synced_from  # from where the synced days began...
    assert [s for s, _, _ in backfill] == sorted((s for s, _, _ in backfill), reverse=True)
    assert second.synced_from == int(second.target_until or 0) - 30 * DAY  # ...to the new start
    assert ids_of(store, None) == set(
        history.history_ids(int(second.synced_from), int(second.synced_until or 0)))

    history.clear_requests()
    sync(store)  # nothing more to reach back for: the lookback only
    assert min(s for s, _, _ in windows(history)) == int(second.synced_until or 0) - DAY


def ids_of(store: StateStore, url: str | None) -> set[str]:
    """The ids in acme.messages, each there once."""
    warehouse = Warehouse(store, url)
    try:
        ids = [row[0] for row in warehouse.all("select id from acme.messages")]
    finally:
        warehouse.close()
    assert ids and len(ids) == len(set(ids))
    return set(ids)


def test_a_deliveries_view_of_another_shape_is_replaced(
    store: StateStore, engine_url: str | None
) -> None:
    """A view left by an older version with other columns gives way to the current one."""
    add_source(store, None, tables=())
    if engine_url is not None:
        store.update_source(replace(store.get_source("acme"), destination=Secret(engine_url)))
    source = store.get_source("acme")
    ensure_source_tables(store.data_dir, source)
    if engine_url is None:
        con = duckdb.connect(str(store.data_dir.warehouse))
        con.execute("create or replace view acme.deliveries as select 1 as old")
        con.close()
    else:
        import psycopg2

        pg = psycopg2.connect(engine_url)
        pg.autocommit = True
        pg.cursor().execute("drop view acme.deliveries; create view acme.deliveries as"
                            " select 1 as old")
        pg.close()
    ensure_source_tables(store.data_dir, source)
    warehouse = Warehouse(store, engine_url)
    try:
        columns = warehouse.all(
            "select column_name from information_schema.columns where table_schema = 'acme'"
            " and table_name = 'deliveries' order by ordinal_position")
    finally:
        warehouse.close()
    assert tuple(c for (c,) in columns) == deliveries.COLUMNS


def test_a_refused_read_fails_the_table_with_customerios_reason(
    api_key: str, store: StateStore
) -> None:
    """The pages are fetched in a thread ahead of the loads: its failure is the table's."""
    workspace = Workspace.preset("small", seed=23)
    with SandboxServer(workspace, api_key=api_key, rate_limit_rps=None, history_days=1,
                       forbidden_paths=["/v1/messages"]) as sandbox:
        add_source(store, sandbox, api_key, tables=("messages",), max_rps=0)
        [outcome] = run_sync(store, "acme", ["messages"])
    assert outcome.status == "failed" and outcome.error is not None
    assert "/v1/messages" in outcome.error and "previous rows were kept" in outcome.error
    assert store.sync_mark("acme", "messages").synced_until is None
