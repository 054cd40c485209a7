"""Loader test fixtures: an inbox filled the receiver's way, a loader, and warehouse queries.

The loader's tests run against the data dir's DuckDB and against a real PostgreSQL: `engine`
(parametrized in test_loader.py) links the test's sources to a fresh PostgreSQL database, and
`query` then reads that database with psycopg2, translating the tests' few DuckDB-only phrases.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.webhooks.inbox import Inbox, Kind, Result, Submission
from cio_warehouse.webhooks.loader import EventLoader

SOURCE = "acme"
SOURCES = ("acme", "globex")
_ids = itertools.count(1)
# data dir -> the PostgreSQL URL its sources load into (absent: the data dir's DuckDB)
_POSTGRES: dict[str, str] = {}


@pytest.fixture
def engine(request: pytest.FixtureRequest, data_dir: DataDir) -> Iterator[str]:
    """duckdb or postgres (see pytest_generate_tests in test_loader.py)."""
    name: str = request.param
    if name == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        store = StateStore(data_dir)
        for source in SOURCES:
            store.add_source(
                SourceConfig(source, "us", Secret("unused"), destination=Secret(url))
            )
        _POSTGRES[str(data_dir.root)] = url
    yield name
    _POSTGRES.pop(str(data_dir.root), None)


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
    url = _POSTGRES.get(str(data_dir.root))
    if url is not None:
        return _postgres_query(url, sql)
    con = duckdb.connect(str(data_dir.warehouse))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _postgres_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    # DuckDB's JSON paths and epoch() in PostgreSQL's words.
    sql = re.sub(r"->>'\$\.([\w.]+)'", lambda m: "#>>'{" + m[1].replace(".", ",") + "}'", sql)
    sql = re.sub(r"epoch\((\w+)\)", r"extract(epoch from \1)", sql)
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
        con.commit()
        return [tuple(r) for r in rows]
    finally:
        con.close()


def tables(data_dir: DataDir, dataset: str = SOURCE) -> set[str]:
    rows = query(
        data_dir,
        f"select table_name from information_schema.tables where table_schema = '{dataset}'",
    )
    return {r[0] for r in rows if not r[0].startswith("_dlt")}
