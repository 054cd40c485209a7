"""open_delta: the Delta tables of a location as DuckDB views, for the product's SQL path."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse import deliveries
from cio_warehouse.warehouse.delta_reader import open_delta
from cio_warehouse.warehouse.query import run_query
from cio_warehouse.warehouse.readers import SqlCursor
from cio_warehouse.web import browse
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission
from cio_warehouse.webhooks.loader import EventLoader
from tests.helpers import EVENT_TABLES, add_source
from tests.webhooks_loader.conftest import event

from .conftest import SOURCE, read_delta, use_delta

SYNCED = ["broadcasts", "campaigns", "newsletters"]


@dataclass
class Lake:
    path: Path
    data_dir: DataDir
    workspace: Workspace

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def deliver(self, *payloads: dict[str, object]) -> None:
        inbox = Inbox(self.data_dir.inbox)
        try:
            inbox.write([
                Submission(SOURCE, Kind.EVENT, time.time(), json.dumps(p).encode(),
                           str(p["event_id"]))
                for p in payloads
            ])
        finally:
            inbox.close()
        loader = EventLoader(self.data_dir)
        try:
            loader.drain()
        finally:
            loader.close()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """Three synced API tables and two event tables in one Delta location."""
    root = tmp_path_factory.mktemp("reader")
    workspace = Workspace.preset("small", seed=5)
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(root / "data").create())
    with SandboxServer(workspace, api_key=key) as sandbox:
        use_delta(store, add_source(store, sandbox, key), root / "lake")
        assert all(o.status == "succeeded" for o in run_sync(store, SOURCE, SYNCED))
    made = Lake(root / "lake", store.data_dir, workspace)
    made.deliver(
        event("email", "clicked", href="https://example.com/a"),
        event("email", "sent"),
        event("sms", "sent"),
    )
    yield made


@pytest.fixture
def con(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_delta(lake.url, [SOURCE])
    yield connection
    connection.close()


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ?",
        [schema],
    ).fetchall()
    return dict(rows)


def test_every_delta_table_is_a_view_and_dlts_own_are_not(
    con: duckdb.DuckDBPyConnection, lake: Lake
) -> None:
    assert (lake.path / SOURCE / "_dlt_loads").exists()  # there, and left out
    # Every event table is selected: those without events yet exist too, empty, with the others
    # `deliveries` reads (messages, whatsapp and unrouted events), and `deliveries` itself.
    assert _tables(con, SOURCE) == {
        t: "VIEW" for t in [*SYNCED, *EVENT_TABLES, *deliveries.BASE_TABLES, deliveries.VIEW]}


@pytest.mark.parametrize("table", [*SYNCED, "email_events", "sms_events"])
def test_views_hold_the_delta_rows(
    con: duckdb.DuckDBPyConnection, lake: Lake, table: str
) -> None:
    expected = read_delta(lake.path, table)
    assert con.execute(f"SELECT count(*) FROM {SOURCE}.{table}").fetchone() == (
        expected.num_rows,
    )


def test_column_types_are_the_duckdb_warehouses(con: duckdb.DuckDBPyConnection) -> None:
    """Timestamps with time zone, and JSON for the columns dlt loaded as JSON (text in Delta)."""
    types = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = 'campaigns'", [SOURCE],
    ).fetchall())
    assert types["created"] == "TIMESTAMP WITH TIME ZONE"
    assert types["tags"] == types["actions"] == "JSON"
    assert types["id"] == "BIGINT" and types["name"] == "VARCHAR"
    events = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = 'email_events'", [SOURCE],
    ).fetchall())
    assert events["timestamp"] == events["received_at"] == "TIMESTAMP WITH TIME ZONE"
    assert events["data"] == "JSON" and events["event_id"] == "VARCHAR"


def test_the_products_sql_runs_as_on_duckdb(
    con: duckdb.DuckDBPyConnection, lake: Lake
) -> None:
    campaigns = list(lake.workspace.rows("campaigns"))
    tag = next(c["tags"][0] for c in campaigns if isinstance(c.get("tags"), list) and c["tags"])
    expected = sum(1 for c in campaigns if tag in (c.get("tags") or []))
    assert con.execute(
        f"SELECT count(*) FROM {SOURCE}.campaigns WHERE list_contains(tags::varchar[], ?)", [tag]
    ).fetchone() == (expected,)
    actions = sum(len(c.get("actions") or []) for c in campaigns)
    assert con.execute(
        f"SELECT count(*) FROM (SELECT unnest(from_json(actions, '[\"json\"]'))"
        f" FROM {SOURCE}.campaigns)"
    ).fetchone() == (actions,)
    assert con.execute(
        f"SELECT data->>'$.href' FROM {SOURCE}.email_events WHERE metric = 'clicked'"
    ).fetchall() == [("https://example.com/a",)]


def test_a_view_reads_the_version_current_when_it_was_opened(lake: Lake) -> None:
    before = open_delta(lake.url, [SOURCE])
    try:
        count = before.execute(f"SELECT count(*) FROM {SOURCE}.sms_events").fetchone()
        assert count is not None
        lake.deliver(event("sms", "delivered"))
        assert before.execute(f"SELECT count(*) FROM {SOURCE}.sms_events").fetchone() == count
    finally:
        before.close()
    after = open_delta(lake.url, [SOURCE])
    try:
        assert after.execute(f"SELECT count(*) FROM {SOURCE}.sms_events").fetchone() == (
            count[0] + 1,
        )
    finally:
        after.close()


def test_a_dataset_without_tables_is_an_empty_schema(lake: Lake, tmp_path: Path) -> None:
    for url in (lake.url, f"file://{tmp_path / 'nothing-here'}"):
        con = open_delta(url, ["globex"])
        try:
            assert _tables(con, "globex") == {}
            with pytest.raises(duckdb.CatalogException):
                con.execute("SELECT * FROM globex.campaigns")
        finally:
            con.close()


def test_the_table_browser_lists_delta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The browser lists views too (DuckDB's registered Arrow datasets sit in temp.main: not
    listed)."""
    listed = {t.table for t in browse.tables(SqlCursor(con, "duckdb"), [SOURCE])}
    assert listed == {*SYNCED, *EVENT_TABLES, *deliveries.BASE_TABLES, deliveries.VIEW}


def test_a_table_merged_into_filters_on_text(lake: Lake) -> None:
    """Each event load after a table's first is a Delta MERGE, which writes text as Arrow string
    views: a filter on text must read those files beside the first write's."""
    lake.deliver(event("email", "clicked", href="https://example.com/b"))
    con = open_delta(lake.url, [SOURCE])
    try:
        hrefs = con.execute(f"SELECT data->>'$.href' FROM {SOURCE}.email_events"
                            " WHERE metric = 'clicked' ORDER BY 1").fetchall()
    finally:
        con.close()
    assert hrefs == [("https://example.com/a",), ("https://example.com/b",)]


def test_the_query_path_runs_on_a_delta_source(lake: Lake) -> None:
    result = run_query(lake.data_dir, f"SELECT count(*) FROM {SOURCE}.campaigns", source=SOURCE)
    assert result.rows == [(lake.workspace.expected_rows("campaigns"),)]
