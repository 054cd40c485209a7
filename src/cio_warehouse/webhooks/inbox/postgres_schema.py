"""The shared inbox's tables in PostgreSQL: a version row and the ordered migrations to it."""

from __future__ import annotations

from cio_warehouse.webhooks.inbox.postgres_session import Connection, Cursor

SCHEMA = "cio_inbox"
# pg_advisory_xact_lock key of the schema's creation: receivers starting together would otherwise
# race on CREATE TABLE IF NOT EXISTS (a unique violation in pg_type).
_SCHEMA_LOCK = 0x63696F5F696E6278  # "cio_inbx"
# The schema as the first release made it (no version row then): every statement is "IF NOT
# EXISTS", so it also brings an inbox of that release to version 1 unchanged.
_SCHEMA_V1 = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL,
    loaded_at DOUBLE PRECISION,
    UNIQUE (source, event_id)
);
CREATE INDEX IF NOT EXISTS events_pending ON {SCHEMA}.events (seq) WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.dead_letters (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    body BYTEA NOT NULL,
    loaded_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS dead_letters_pending ON {SCHEMA}.dead_letters (seq)
    WHERE loaded_at IS NULL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.health (
    source TEXT NOT NULL,
    counter TEXT NOT NULL,
    value BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source, counter)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.health_marks (
    source TEXT PRIMARY KEY,
    last_delivery_at DOUBLE PRECISION,
    last_rejected_at DOUBLE PRECISION,
    last_rejection TEXT,
    consecutive_rejections INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL);
-- What receivers without a data dir need: each source's signing keys, Fernet-encrypted with the
-- service's secret key (published_keys.py). A source without a key has a row of NULLs.
CREATE TABLE IF NOT EXISTS {SCHEMA}.signing_keys (
    source TEXT PRIMARY KEY,
    signing_key BYTEA,
    previous_signing_key BYTEA,
    published_at DOUBLE PRECISION NOT NULL
);
"""

# Ordered: MIGRATIONS[n - 1] brings an inbox from version n - 1 to n (the row of
# {SCHEMA}.schema_version). A change to the tables is a new entry at the end, never an edit of
# one that shipped.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)


def ensure_schema(conn: Connection) -> None:
    """The inbox's tables at the last version, migrated once (by whichever process comes first).

    A newer inbox is left as it is: a migration only adds, so the receivers of a shared inbox can
    be upgraded one machine at a time."""
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn, conn.cursor() as cur:
            if _version(cur) >= len(MIGRATIONS):
                return
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            version = _version(cur)  # another process may have migrated meanwhile
            for script in MIGRATIONS[version:]:
                cur.execute(script)
            cur.execute(f"DELETE FROM {SCHEMA}.schema_version")  # noqa: S608
            cur.execute(f"INSERT INTO {SCHEMA}.schema_version VALUES (%s)",  # noqa: S608
                        (max(version, len(MIGRATIONS)),))
    finally:
        if not conn.closed:
            conn.autocommit = autocommit


def _version(cur: Cursor) -> int:
    """0 for an inbox of the first release, or none yet."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.schema_version",))
    if not cur.fetchone()[0]:
        return 0
    cur.execute(f"SELECT max(version) FROM {SCHEMA}.schema_version")  # noqa: S608
    return int(cur.fetchone()[0] or 0)
