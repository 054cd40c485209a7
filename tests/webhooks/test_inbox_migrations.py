"""An inbox made by an earlier release reaches the current schema, its rows kept, migrated once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg2
import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission, postgres_schema, sqlite
from cio_warehouse.webhooks.inbox.postgres import PostgresInbox

# The tables as the release before schema versions made them (user_version 0, no version row).
_SQLITE_BEFORE_VERSIONS = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL,
    loaded_at REAL,
    UNIQUE (source, event_id)
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    received_at REAL NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL,
    loaded_at REAL
);
CREATE INDEX IF NOT EXISTS dead_letters_pending ON dead_letters (seq) WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS health (
    source TEXT NOT NULL,
    counter TEXT NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, counter)
);
CREATE TABLE IF NOT EXISTS health_marks (
    source TEXT PRIMARY KEY,
    last_delivery_at REAL,
    last_rejected_at REAL,
    last_rejection TEXT,
    consecutive_rejections INTEGER NOT NULL DEFAULT 0
);
"""
_POSTGRES_BEFORE_VERSIONS = """
CREATE SCHEMA IF NOT EXISTS cio_inbox;
CREATE TABLE IF NOT EXISTS cio_inbox.events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL,
    loaded_at DOUBLE PRECISION,
    UNIQUE (source, event_id)
);
CREATE INDEX IF NOT EXISTS events_pending ON cio_inbox.events (seq) WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS cio_inbox.dead_letters (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    body BYTEA NOT NULL,
    loaded_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS dead_letters_pending ON cio_inbox.dead_letters (seq)
    WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS cio_inbox.health (
    source TEXT NOT NULL,
    counter TEXT NOT NULL,
    value BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source, counter)
);
CREATE TABLE IF NOT EXISTS cio_inbox.health_marks (
    source TEXT PRIMARY KEY,
    last_delivery_at DOUBLE PRECISION,
    last_rejected_at DOUBLE PRECISION,
    last_rejection TEXT,
    consecutive_rejections INTEGER NOT NULL DEFAULT 0
);
-- What receivers without a data dir need: each source's signing keys, Fernet-encrypted with the
-- service's secret key (published_keys.py). A source without a key has a row of NULLs.
CREATE TABLE IF NOT EXISTS cio_inbox.signing_keys (
    source TEXT PRIMARY KEY,
    signing_key BYTEA,
    previous_signing_key BYTEA,
    published_at DOUBLE PRECISION NOT NULL
);
"""


def _old_sqlite_inbox(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(_SQLITE_BEFORE_VERSIONS)
        db.execute("INSERT INTO events (source, event_id, received_at, body)"
                   " VALUES ('acme', 'e1', 1.0, X'7B7D')")
        db.execute("INSERT INTO health (source, counter, value) VALUES ('acme', 'stored', 1)")
    db.close()


def _sqlite_columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    db.close()
    return columns


def test_a_sqlite_inbox_without_a_version_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    _old_sqlite_inbox(path)
    inbox = Inbox(path)
    try:
        assert inbox._db.execute("PRAGMA user_version").fetchone()[0] == len(sqlite.MIGRATIONS)
        assert [e.event_id for e in inbox.pending_events(10)] == ["e1"]
        assert inbox.health("acme").counters == {"stored": 1}
        inbox.write([Submission("acme", Kind.EVENT, time.time(), b"{}", "e2")])
        assert inbox.health("acme").backlog == 2
    finally:
        inbox.close()


def test_a_column_added_later_reaches_an_existing_sqlite_inbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inbox.db"
    _old_sqlite_inbox(path)
    Inbox(path).close()  # the current version
    later = (*sqlite.MIGRATIONS, "ALTER TABLE events ADD COLUMN note TEXT")
    monkeypatch.setattr(sqlite, "MIGRATIONS", later)
    for _ in range(2):  # the second open finds it current: the ALTER would fail if run twice
        inbox = Inbox(path)
        try:
            assert [e.event_id for e in inbox.pending_events(10)] == ["e1"]
        finally:
            inbox.close()
    assert "note" in _sqlite_columns(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(later)
    db.close()


def _pg(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def test_a_postgres_inbox_without_a_version_is_migrated_and_keeps_its_rows(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pg(postgres_url, _POSTGRES_BEFORE_VERSIONS)
    _pg(postgres_url, "INSERT INTO cio_inbox.events (source, event_id, received_at, body)"
                      " VALUES ('acme', 'e1', 1.0, '\\x7b7d')")
    inbox = PostgresInbox(Secret(postgres_url))
    try:
        assert _pg(postgres_url, "SELECT version FROM cio_inbox.schema_version") == [
            (len(postgres_schema.MIGRATIONS),)
        ]
        assert [e.event_id for e in inbox.pending_events(10)] == ["e1"]
        inbox.write([Submission("acme", Kind.EVENT, time.time(), b"{}", "e2")])
        assert inbox.health("acme").backlog == 2
    finally:
        inbox.close()
    later = (*postgres_schema.MIGRATIONS, "ALTER TABLE cio_inbox.events ADD COLUMN note TEXT")
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", later)
    for _ in range(2):  # the second open finds it current: the ALTER would fail if run twice
        PostgresInbox(Secret(postgres_url)).close()
    assert _pg(postgres_url, "SELECT version FROM cio_inbox.schema_version") == [(len(later),)]
    assert _pg(postgres_url, "SELECT event_id, note FROM cio_inbox.events ORDER BY seq") == [
        ("e1", None), ("e2", None)
    ]
