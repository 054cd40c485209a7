"""Neither a long query nor a sync's load holds an event load back: while a query on the
service's warehouse is stopped mid-run, or a sync's load holds the write lock, the loader commits
new events, and another cursor sees them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from cio_warehouse.service.api import Warehouse
from cio_warehouse.state import DataDir
from cio_warehouse.warehouse.write_lock import write_lock
from cio_warehouse.webhooks.inbox import Inbox
from cio_warehouse.webhooks.loader import EventLoader

from .conftest import SOURCE, event, store

WAIT_SECONDS = 60  # only a hang waits this long: then the test fails instead of hanging
_HELD = pa.schema([("n", pa.int64())])


def test_a_query_stopped_mid_run_holds_no_load_back(
    data_dir: DataDir, inbox: Inbox, loader: EventLoader
) -> None:
    store(inbox, [event() for _ in range(3)])
    assert loader.drain().events == 3

    warehouse = Warehouse(data_dir)  # the service's: one instance, its queries and loads share it
    entered, release = threading.Event(), threading.Event()

    def held_rows() -> Iterator[pa.RecordBatch]:
        """A relation whose one row arrives when the test lets it: the query that reads it
        stops mid-run, inside DuckDB, until then."""
        entered.set()
        release.wait(WAIT_SECONDS)
        yield pa.record_batch([pa.array([1])], schema=_HELD)

    long_query = warehouse.cursor()
    long_query._raw.register("held", pa.RecordBatchReader.from_batches(_HELD, held_rows()))
    answer: list[Any] = []

    def run_long_query() -> None:
        with long_query.read_only():  # as the query path runs every statement
            answer.extend(long_query.execute(
                f"select count(*) from {SOURCE}.email_events, held").fetchall())

    query_thread = threading.Thread(target=run_long_query, daemon=True)
    query_thread.start()
    try:
        assert entered.wait(WAIT_SECONDS), "the long query never started"

        store(inbox, [event() for _ in range(2)])
        assert drained_in_a_thread(data_dir) == 2, "the load waited for the long query"

        second = warehouse.cursor()
        try:
            with second.read_only():
                visible = second.execute(f"select count(*) from {SOURCE}.email_events").fetchall()
        finally:
            second.close()
        assert visible == [(5,)]
        assert query_thread.is_alive() and not answer, "the long query ended before the load"
    finally:
        release.set()
        query_thread.join(WAIT_SECONDS)
        long_query.close()
        warehouse.close()
    # The long query read the table as it was when it began, whatever committed meanwhile.
    assert answer == [(3,)]


def test_a_sync_load_holding_the_write_lock_holds_no_event_rows_back(
    data_dir: DataDir, inbox: Inbox, loader: EventLoader
) -> None:
    """A sync's dlt load holds the warehouse's write lock for as long as it takes (seconds for a
    large table); events for tables that exist need no catalog change, so they load meanwhile."""
    store(inbox, [event() for _ in range(3)])
    assert loader.drain().events == 3

    with write_lock(str(data_dir.warehouse)):  # as sync/full_refresh.py's load holds it
        store(inbox, [event() for _ in range(2)])
        assert drained_in_a_thread(data_dir) == 2, "the event load waited for the sync's load"
        warehouse = Warehouse(data_dir)
        try:
            second = warehouse.cursor()
            with second.read_only():
                visible = second.execute(f"select count(*) from {SOURCE}.email_events").fetchall()
            second.close()
        finally:
            warehouse.close()
        assert visible == [(5,)]


def drained_in_a_thread(data_dir: DataDir) -> int | None:
    """The events a drain loaded, by a loader of its own in a thread of its own (the fixture's
    inbox connection belongs to the test's thread); None if it did not end in WAIT_SECONDS."""
    load: list[int] = []

    def drain() -> None:
        loader = EventLoader(data_dir)
        try:
            load.append(loader.drain().events)
        finally:
            loader.close()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    thread.join(WAIT_SECONDS)
    return None if thread.is_alive() or not load else load[0]
