"""The alert tables of the state store (schema v4): channels, incidents and the outbox."""

from __future__ import annotations

ALERT_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_channels (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target BLOB NOT NULL,
    shown TEXT NOT NULL,
    created_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    retry_at REAL
);
CREATE TABLE IF NOT EXISTS alert_incidents (
    source TEXT NOT NULL,
    table_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    since REAL NOT NULL,
    mark INTEGER,
    PRIMARY KEY (source, table_name, kind)
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    notice TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_outbox_by_channel ON alert_outbox (channel, id);
"""
