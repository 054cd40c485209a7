"""The durable inbox: every acknowledged delivery, kept until loaded and for 8 days after.

SQLite in WAL mode with synchronous=FULL: a row is on disk when its transaction commits, and the
receiver answers 2xx only after that commit. `UNIQUE(source, event_id)` makes a retried delivery
(Customer.io retries for up to 7 days) a no-op, counted as a duplicate.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# Customer.io retries a failed delivery for up to 7 days: keep loaded rows a day longer so that a
# late retry still meets its event_id and is recognised as a duplicate.
RETENTION_SECONDS = 8 * 24 * 3600

_SCHEMA = """
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


class Kind(StrEnum):
    """What the receiver does with a delivery; each kind has its own health counter."""

    EVENT = "event"  # signed, a JSON object with event_id and object_type: stored (or duplicate)
    DEAD_LETTER = "dead_letter"  # signed but unusable: stored raw, never lost
    REJECTED = "rejected"  # bad or missing signature, stale timestamp: nothing stored
    DROPPED = "dropped"  # no signing key configured yet: nothing stored, acked


@dataclass(frozen=True)
class Submission:
    source: str
    kind: Kind
    received_at: float
    body: bytes = b""
    event_id: str | None = None
    reason: str | None = None  # why rejected or dead-lettered


class Result(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    DROPPED = "dropped"


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    source: str
    event_id: str
    received_at: float
    body: bytes


@dataclass(frozen=True)
class PendingDeadLetter:
    seq: int
    source: str
    received_at: float
    reason: str
    body: bytes


@dataclass(frozen=True)
class Health:
    source: str
    counters: dict[str, int]  # received, stored, duplicates, dead_letters, dropped, rejected:<why>
    last_delivery_at: float | None
    last_rejected_at: float | None
    last_rejection: str | None
    consecutive_rejections: int
    backlog: int  # stored but not yet in the warehouse

    @property
    def rejected(self) -> int:
        return sum(v for k, v in self.counters.items() if k.startswith("rejected:"))


class Inbox:
    """One SQLite file; open one Inbox per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the commit is fsync'd before the receiver acks (NORMAL could lose the last acks
        # on power loss in WAL mode).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the receiver's side -------------------------------------------------------------------

    def write(self, submissions: Sequence[Submission]) -> list[Result]:
        """Store a group of deliveries in ONE transaction (group commit); results in order.

        Raises sqlite3.Error when nothing could be committed: the receiver then answers 503 to
        every delivery of the group and Customer.io retries them.
        """
        results: list[Result] = []
        counts: dict[tuple[str, str], int] = {}
        with self._transaction() as db:
            for sub in submissions:
                result = self._write_one(db, sub)
                results.append(result)
                for counter in _counters(sub, result):
                    counts[(sub.source, counter)] = counts.get((sub.source, counter), 0) + 1
                self._mark(db, sub, result)
            db.executemany(
                "INSERT INTO health (source, counter, value) VALUES (?, ?, ?)"
                " ON CONFLICT (source, counter) DO UPDATE SET value = value + excluded.value",
                [(source, counter, n) for (source, counter), n in counts.items()],
            )
        return results

    def _write_one(self, db: sqlite3.Connection, sub: Submission) -> Result:
        if sub.kind is Kind.EVENT:
            assert sub.event_id is not None
            inserted = db.execute(
                "INSERT INTO events (source, event_id, received_at, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source, event_id) DO NOTHING",
                (sub.source, sub.event_id, sub.received_at, sub.body),
            ).rowcount
            return Result.STORED if inserted else Result.DUPLICATE
        if sub.kind is Kind.DEAD_LETTER:
            db.execute(
                "INSERT INTO dead_letters (source, received_at, reason, body) VALUES (?, ?, ?, ?)",
                (sub.source, sub.received_at, sub.reason or "unusable body", sub.body),
            )
            return Result.DEAD_LETTERED
        return Result.REJECTED if sub.kind is Kind.REJECTED else Result.DROPPED

    def _mark(self, db: sqlite3.Connection, sub: Submission, result: Result) -> None:
        if result is Result.REJECTED:
            db.execute(
                "INSERT INTO health_marks (source, last_rejected_at, last_rejection,"
                " consecutive_rejections) VALUES (?, ?, ?, 1) ON CONFLICT (source) DO UPDATE SET"
                " last_rejected_at = excluded.last_rejected_at,"
                " last_rejection = excluded.last_rejection,"
                " consecutive_rejections = consecutive_rejections + 1",
                (sub.source, sub.received_at, sub.reason),
            )
        else:
            # Any delivery that verified (or had no key to verify with) ends a rejection streak.
            db.execute(
                "INSERT INTO health_marks (source, last_delivery_at, consecutive_rejections)"
                " VALUES (?, ?, 0) ON CONFLICT (source) DO UPDATE SET"
                " last_delivery_at = excluded.last_delivery_at, consecutive_rejections = 0",
                (sub.source, sub.received_at),
            )

    # -- the loader's side ---------------------------------------------------------------------

    def pending_events(self, limit: int) -> list[PendingEvent]:
        rows = self._db.execute(
            "SELECT seq, source, event_id, received_at, body FROM events"
            " WHERE loaded_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [PendingEvent(*row) for row in rows]

    def pending_dead_letters(self, limit: int) -> list[PendingDeadLetter]:
        rows = self._db.execute(
            "SELECT seq, source, received_at, reason, body FROM dead_letters"
            " WHERE loaded_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [PendingDeadLetter(*row) for row in rows]

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None:
        """Called only after the warehouse committed these rows."""
        now = time.time()
        with self._transaction() as db:
            db.executemany(
                "UPDATE events SET loaded_at = ? WHERE seq = ?", [(now, s) for s in event_seqs]
            )
            db.executemany(
                "UPDATE dead_letters SET loaded_at = ? WHERE seq = ?",
                [(now, s) for s in dead_letter_seqs],
            )

    def prune(self, now: float | None = None) -> int:
        """Forget loaded rows older than the retention; returns how many went."""
        cutoff = (time.time() if now is None else now) - RETENTION_SECONDS
        with self._transaction() as db:
            gone = db.execute(
                "DELETE FROM events WHERE loaded_at IS NOT NULL AND received_at < ?", (cutoff,)
            ).rowcount
            gone += db.execute(
                "DELETE FROM dead_letters WHERE loaded_at IS NOT NULL AND received_at < ?",
                (cutoff,),
            ).rowcount
        return gone

    # -- delivery health -----------------------------------------------------------------------

    def health(self, source: str) -> Health:
        counters = dict(
            self._db.execute(
                "SELECT counter, value FROM health WHERE source = ?", (source,)
            ).fetchall()
        )
        marks = self._db.execute(
            "SELECT last_delivery_at, last_rejected_at, last_rejection, consecutive_rejections"
            " FROM health_marks WHERE source = ?",
            (source,),
        ).fetchone() or (None, None, None, 0)
        backlog = self._db.execute(
            "SELECT count(*) FROM events WHERE source = ? AND loaded_at IS NULL", (source,)
        ).fetchone()[0]
        return Health(source, counters, marks[0], marks[1], marks[2], marks[3], backlog)


def _counters(sub: Submission, result: Result) -> list[str]:
    counters = ["received"]
    if result is Result.STORED:
        counters.append("stored")
    elif result is Result.DUPLICATE:
        counters.append("duplicates")
    elif result is Result.DEAD_LETTERED:
        counters.append("dead_letters")
    elif result is Result.DROPPED:
        counters.append("dropped")
    else:
        counters.append(f"rejected:{sub.reason or 'unknown'}")
    return counters
