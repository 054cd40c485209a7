"""Direct appends (appends.py) and dlt's merge leave the same tables: columns, types and rows.

The same deliveries go to two sources of one warehouse: `direct` loaded by the default loader,
`merged` by a loader that sends every batch through a dlt merge (appends=False).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from cio_warehouse.state import DataDir
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission
from cio_warehouse.webhooks.loader import EventLoader

from .builders import spec_events
from .conftest import SOURCES, event, query

DIRECT, MERGED = SOURCES
RECEIVED_AT = 1_717_200_000.25  # one arrival time for both sources' copies


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on DuckDB and PostgreSQL, but those about PostgreSQL (named so)."""
    postgres_only = "postgres" in metafunc.function.__name__
    engines = ["postgres"] if postgres_only else ["duckdb", "postgres"]
    metafunc.parametrize("engine", engines, indirect=True)


def _load(data_dir: DataDir, inbox: Inbox, deliveries: list[dict[str, Any] | bytes],
          replay: bool = False) -> None:
    """One batch of the same deliveries into each source, each by its own loader; bytes are a
    body the receiver dead-lettered."""
    for source, appends in ((DIRECT, True), (MERGED, False)):
        inbox.write([
            Submission(source, Kind.DEAD_LETTER, RECEIVED_AT, d, reason="not valid JSON")
            if isinstance(d, bytes) else
            Submission(source, Kind.EVENT, RECEIVED_AT, json.dumps(d).encode(), d["event_id"])
            for d in deliveries
        ])
        if replay:  # as after a crash between the warehouse commit and the inbox's mark
            with sqlite3.connect(data_dir.inbox) as db:
                db.execute("UPDATE events SET loaded_at = NULL WHERE source = ?", (source,))
        loader = EventLoader(data_dir, appends=appends)
        try:
            loader.drain()
        finally:
            loader.close()


def _tables(data_dir: DataDir, dataset: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's columns (name, type), in order."""
    rows = query(data_dir, "select table_name, column_name, data_type from"
                           f" information_schema.columns where table_schema = '{dataset}'"
                           " order by table_name, ordinal_position")
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table, column, data_type in rows:
        if not table.startswith("_dlt"):
            tables.setdefault(table, []).append((column, data_type))
    return tables


def _assert_same(data_dir: DataDir) -> dict[str, list[tuple[Any, ...]]]:
    direct, merged = _tables(data_dir, DIRECT), _tables(data_dir, MERGED)
    assert direct == merged
    contents = {}
    for table, columns in direct.items():
        # A receiver's dead letter is named after its inbox row, which differs between sources.
        names = [f'"{name}"' for name, _ in columns if name != "dead_letter_id"]
        order = ", ".join(names)
        rows = {
            source: query(data_dir, f"select {order} from {source}.{table} order by {order}")
            for source in (DIRECT, MERGED)
        }
        assert rows[DIRECT] == rows[MERGED], table
        contents[table] = rows[DIRECT]
    return contents


def test_both_paths_make_the_same_rows(data_dir: DataDir, inbox: Inbox, engine: str) -> None:
    every = [spec.payload for spec in spec_events()]
    first = [*every, event(campaign_id=7), event("sms", "delivered", recipient="+1555")]
    _load(data_dir, inbox, first)
    contents = _assert_same(data_dir)
    assert sum(len(rows) for rows in contents.values()) == len(first)

    # The same deliveries loaded again with new ones, and one twice within the batch.
    again = event("push", "opened")
    _load(data_dir, inbox, [*first, again, again], replay=True)
    contents = _assert_same(data_dir)
    assert sum(len(rows) for rows in contents.values()) == len(first) + 1

    # A value of the wrong type makes a variant column the tables lack; dead letters too.
    variant = event(campaign_id="c-12")
    variant["timestamp"] = "soon"
    _load(data_dir, inbox, [variant, event(campaign_id=8), b"\xff not json"])
    contents = _assert_same(data_dir)
    columns = [name for name, _ in _tables(data_dir, DIRECT)["email_events"]]
    assert {"campaign_id__v_text", "timestamp__v_text"} <= set(columns)
    assert len(contents["webhook_dead_letters"]) == 1
    by_id = {row[0]: row for row in contents["email_events"]}
    assert by_id[variant["event_id"]][columns.index("campaign_id__v_text")] == "c-12"


def test_postgres_refuses_a_second_row_for_an_event_id(
    data_dir: DataDir, inbox: Inbox, engine: str  # engine: links the sources to PostgreSQL
) -> None:
    """The unique index the loader makes on PostgreSQL (dlt makes none) is the engine's own
    guarantee, whatever two loaders ever do between the key look-up and the COPY."""
    import psycopg2

    ev = event()
    _load(data_dir, inbox, [ev])
    indexes = query(data_dir, "select indexname from pg_indexes where schemaname = "
                              f"'{DIRECT}' and indexdef like 'CREATE UNIQUE INDEX%(event_id)'")
    assert ("email_events__event_id__key",) in indexes
    with pytest.raises(psycopg2.errors.UniqueViolation):
        query(data_dir, f"insert into {DIRECT}.email_events (event_id) values ('{ev['event_id']}')")
    assert query(data_dir, f"select count(*) from {DIRECT}.email_events") == [(1,)]
