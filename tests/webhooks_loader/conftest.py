"""Loader test fixtures: an inbox filled the receiver's way, a loader, and DuckDB queries."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import pytest

from cio_warehouse.state import DataDir
from cio_warehouse.webhooks.inbox import Inbox, Kind, Result, Submission
from cio_warehouse.webhooks.loader import EventLoader

SOURCE = "acme"
_ids = itertools.count(1)


def event(object_type: str = "email", metric: str = "sent", **data: Any) -> dict[str, Any]:
    """A delivery as Customer.io sends it: event_id, object_type, metric, timestamp, data."""
    n = next(_ids)
    return {
        "event_id": f"01TEST{n:020d}",
        "object_type": object_type,
        "metric": metric,
        "timestamp": 1613063089 + n,
        "data": {"delivery_id": f"D{n}", "identifiers": {"id": str(n)}, **data},
    }


@pytest.fixture
def inbox(data_dir: DataDir) -> Iterator[Inbox]:
    box = Inbox(data_dir.inbox)
    yield box
    box.close()


@pytest.fixture
def loader(data_dir: DataDir) -> Iterator[EventLoader]:
    el = EventLoader(data_dir)
    yield el
    el.close()


def store(
    inbox: Inbox, payloads: Iterable[dict[str, Any]], source: str = SOURCE
) -> list[Result]:
    """Write events as the receiver does: one group commit of Kind.EVENT submissions."""
    subs = [
        Submission(source, Kind.EVENT, time.time(), json.dumps(p).encode(), p["event_id"])
        for p in payloads
    ]
    return inbox.write(subs)


def store_raw(inbox: Inbox, event_id: str, body: bytes, source: str = SOURCE) -> None:
    inbox.write([Submission(source, Kind.EVENT, time.time(), body, event_id)])


def query(data_dir: DataDir, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(data_dir.warehouse))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def tables(data_dir: DataDir, dataset: str = SOURCE) -> set[str]:
    rows = query(
        data_dir,
        f"select table_name from information_schema.tables where table_schema = '{dataset}'",
    )
    return {r[0] for r in rows if not r[0].startswith("_dlt")}
