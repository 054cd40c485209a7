"""The durable inbox: every acknowledged delivery, kept until loaded and for 8 days after.

Two backends with one interface (InboxBackend): by default the data dir's `inbox.db` (Inbox,
below), or a PostgreSQL database that receivers on several machines share (postgres_inbox.py),
chosen by an inbox URL (`--inbox`, $CIO_WAREHOUSE_INBOX). Both answer "stored" only once the row
is committed durably, and both keep `UNIQUE(source, event_id)`, which makes a retried delivery
(Customer.io retries for up to 7 days) a no-op, counted as a duplicate.

The SQLite inbox: WAL mode with synchronous=FULL, so a row is on disk when its transaction
commits, and the receiver answers 2xx only after that commit.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.state import DataDir, StateError

# The inbox URL of every process of a deployment (service, receivers, CLI), like the data dir's.
ENV_INBOX = "CIO_WAREHOUSE_INBOX"

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


class InboxUnavailable(ConnectionError):
    """The shared inbox's database cannot be reached or failed a statement: nothing was
    committed (the receiver answers 503), or a claim is lost (its rows load again later).
    The message never holds the URL's password."""


class Claim(Protocol):
    """Pending rows taken by one loader for one drain (loader.py), and how it settles them."""

    events: list[PendingEvent]
    dead_letters: list[PendingDeadLetter]

    def mark_loaded(self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()) -> None:
        """After the warehouse committed these rows; final when the claim ends."""

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        """Held around a load into the warehouse `key` names, against the other loaders of this
        inbox (a dlt merge stages its rows in tables that two loads at once would share)."""


class InboxBackend(Protocol):
    """What the receiver, the loader, `status` and `source remove` need of an inbox."""

    def close(self) -> None: ...

    def write(self, submissions: Sequence[Submission]) -> list[Result]:
        """A group in one durable transaction; raises when nothing could be committed."""

    def pending_events(self, limit: int) -> list[PendingEvent]: ...

    def pending_dead_letters(self, limit: int) -> list[PendingDeadLetter]: ...

    def claim(
        self, limit: int, sources: Sequence[str] | None = None
    ) -> AbstractContextManager[Claim]:
        """Up to `limit` pending events and dead letters for one loader; of `sources` only, if
        given (a shared inbox: each loader loads the sources its data dir knows)."""

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None: ...

    def prune(self, now: float | None = None) -> int: ...

    def forget_source(self, source: str) -> None: ...

    def health(self, source: str) -> Health: ...


class Inbox:
    """One SQLite file; open one Inbox per thread (sqlite3 connections are not shared).

    The receiver (write) and the loader (mark_loaded, prune) take turns at the one write lock,
    and the receiver needs it for every group of acks. So the loader writes in short
    transactions with a pause between two, and a writer waiting for the lock tries again every
    half millisecond: SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between
    tries, sleeping through the gaps the other side leaves until it has waited a whole other
    transaction or more (it made acks wait for the loader's marks for up to two seconds).
    """

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self._timeout = timeout  # for the write lock, and for a read that meets a lock
        self._db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the commit is fsync'd before the receiver acks (NORMAL could lose the last acks
        # on power loss in WAL mode).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # From here on SQLite never waits by itself: _begin polls for the write lock, and reads
        # wait through SQLite's handler (_waiting), which a WAL read rarely needs.
        self._db.execute("PRAGMA busy_timeout = 0")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._begin()
        try:
            yield self._db
        except BaseException:
            # SQLite has rolled back by itself after some failures (a full disk mid-INSERT): a
            # second ROLLBACK would raise and hide the real cause.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _begin(self) -> None:
        """BEGIN IMMEDIATE (the write lock), tried every _LOCK_POLL_SECONDS until the timeout;
        raises sqlite3.OperationalError ("database is locked") past it."""
        deadline: float | None = None
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._timeout
                elif now >= deadline:
                    raise
            time.sleep(_LOCK_POLL_SECONDS)

    @contextmanager
    def _waiting(self) -> Iterator[sqlite3.Connection]:
        """Reads wait for a lock as sqlite3.connect(timeout=...) made them (WAL readers meet one
        only while a connection recovers or checkpoints the whole file)."""
        self._db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        try:
            yield self._db
        finally:
            self._db.execute("PRAGMA busy_timeout = 0")

    @contextmanager
    def _bookkeeping(self) -> Iterator[None]:
        """The loader's writes: marks and pruning, not fsync'd one by one (synchronous=NORMAL
        in WAL mode: never corrupt, durable at the next fsync'd commit, the receiver's next).
        Lost to a power cut, a mark only makes the loader load those rows again, which the
        warehouse's merge on the primary key makes harmless (as after a crash between the
        warehouse commit and the mark); a prune is done again."""
        self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous = FULL")

    def _in_chunks(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        """executemany, _BOOKKEEPING_CHUNK rows per transaction, pausing between two."""
        for start in range(0, len(rows), _BOOKKEEPING_CHUNK):
            if start:
                time.sleep(_BOOKKEEPING_PAUSE_SECONDS)  # the receiver's turn, if it waits
            with self._transaction() as db:
                db.executemany(sql, rows[start:start + _BOOKKEEPING_CHUNK])

    # -- the receiver's side -------------------------------------------------------------------

    def write(self, submissions: Sequence[Submission]) -> list[Result]:
        """Store a group of deliveries in ONE transaction (group commit); results in order.

        A handful of statements per group whatever its size (the events of a source in
        multi-row statements, the health counters and marks summed up in Python): the sqlite3
        module releases the GIL around every statement step, and each step the writer thread
        then has to win the GIL back from the event loop.

        Raises sqlite3.Error when nothing could be committed: the receiver then answers 503 to
        every delivery of the group and Customer.io retries them.
        """
        if not submissions:
            return []
        results: list[Result] = [Result.DROPPED] * len(submissions)
        events: dict[str, list[int]] = {}  # source -> indexes of its events, in order
        with self._transaction() as db:
            for i, sub in enumerate(submissions):
                kind = sub.kind
                if kind is Kind.EVENT:
                    events.setdefault(sub.source, []).append(i)
                elif kind is Kind.DEAD_LETTER:
                    db.execute(
                        "INSERT INTO dead_letters (source, received_at, reason, body)"
                        " VALUES (?, ?, ?, ?)",
                        (sub.source, sub.received_at, sub.reason or "unusable body", sub.body),
                    )
                    results[i] = Result.DEAD_LETTERED
                elif kind is Kind.REJECTED:
                    results[i] = Result.REJECTED
            for source, indexes in events.items():
                for start in range(0, len(indexes), _CHUNK):
                    self._write_events(db, source, submissions,
                                       indexes[start:start + _CHUNK], results)
            counters, marks = tally_health(submissions, results)
            db.execute(_health_upsert(len(counters)), [v for row in counters for v in row])
            db.execute(_marks_upsert(len(marks)), [v for row in marks for v in row])
        return results

    @staticmethod
    def _write_events(
        db: sqlite3.Connection,
        source: str,
        submissions: Sequence[Submission],
        indexes: Sequence[int],
        results: list[Result],
    ) -> None:
        """One source's events (at most _CHUNK): one look-up of the ids already stored, then one
        multi-row INSERT of the others. The transaction (BEGIN IMMEDIATE) holds the write lock,
        so nobody can store one of these ids in between. The INSERT has no ON CONFLICT clause
        on purpose: were the look-up ever wrong, UNIQUE(source, event_id) fails the whole group
        (503, retried) instead of a duplicate being answered as stored or the reverse."""
        ids = [submissions[i].event_id for i in indexes]
        n = len(ids)
        seen = {row[0] for row in db.execute(_select_existing(n), [source, *ids])}
        values: list[object] = []
        for i, event_id in zip(indexes, ids, strict=True):
            if event_id in seen:  # stored before, or earlier in this very group
                results[i] = Result.DUPLICATE
                continue
            seen.add(event_id)
            results[i] = Result.STORED
            sub = submissions[i]
            values += (source, event_id, sub.received_at, sub.body)
        if values:
            db.execute(_insert_events(len(values) // 4), values)

    # -- the loader's side ---------------------------------------------------------------------

    @contextmanager
    def claim(self, limit: int, sources: Sequence[str] | None = None) -> Iterator[Claim]:
        """The pending rows, marked as they load. One loader per data dir drains this inbox
        (the service's), so a claim locks nothing, and every source's rows are its."""
        yield _SqliteClaim(self, self.pending_events(limit), self.pending_dead_letters(limit))

    def pending_events(self, limit: int) -> list[PendingEvent]:
        with self._waiting() as db:
            rows = db.execute(
                "SELECT seq, source, event_id, received_at, body FROM events"
                " WHERE loaded_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [PendingEvent(*row) for row in rows]

    def pending_dead_letters(self, limit: int) -> list[PendingDeadLetter]:
        with self._waiting() as db:
            rows = db.execute(
                "SELECT seq, source, received_at, reason, body FROM dead_letters"
                " WHERE loaded_at IS NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [PendingDeadLetter(*row) for row in rows]

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None:
        """Called only after the warehouse committed these rows; in short transactions (see
        _bookkeeping and _in_chunks)."""
        now = time.time()
        with self._bookkeeping():
            self._in_chunks("UPDATE events SET loaded_at = ? WHERE seq = ?",
                            [(now, s) for s in event_seqs])
            self._in_chunks("UPDATE dead_letters SET loaded_at = ? WHERE seq = ?",
                            [(now, s) for s in dead_letter_seqs])

    def prune(self, now: float | None = None) -> int:
        """Forget loaded rows older than the retention; returns how many went.

        The rows are found by a read (a scan, which holds no lock in WAL mode), then deleted by
        seq in short transactions: a day's worth of rows deleted in one would hold the write
        lock, and every ack, for seconds."""
        cutoff = (time.time() if now is None else now) - RETENTION_SECONDS
        gone = 0
        with self._bookkeeping():
            for table in ("events", "dead_letters"):
                with self._waiting() as db:
                    due = db.execute(
                        f"SELECT seq FROM {table} WHERE loaded_at IS NOT NULL AND received_at < ?",
                        (cutoff,),
                    ).fetchall()
                # Loaded rows never change again, so what the read found is still due.
                self._in_chunks(f"DELETE FROM {table} WHERE seq = ?", due)
                gone += len(due)
        return gone

    def forget_source(self, source: str) -> None:
        """A removed source's rows and counters go: left pending, they would be loaded again and
        bring its dataset back."""
        with self._transaction() as db:
            for table in ("events", "dead_letters", "health", "health_marks"):
                db.execute(f"DELETE FROM {table} WHERE source = ?", (source,))  # noqa: S608

    # -- delivery health -----------------------------------------------------------------------

    def health(self, source: str) -> Health:
        with self._waiting() as db:
            counters = dict(
                db.execute(
                    "SELECT counter, value FROM health WHERE source = ?", (source,)
                ).fetchall()
            )
            marks = db.execute(
                "SELECT last_delivery_at, last_rejected_at, last_rejection, consecutive_rejections"
                " FROM health_marks WHERE source = ?",
                (source,),
            ).fetchone() or (None, None, None, 0)
            backlog = db.execute(
                "SELECT count(*) FROM events WHERE source = ? AND loaded_at IS NULL", (source,)
            ).fetchone()[0]
        return Health(source, counters, marks[0], marks[1], marks[2], marks[3], backlog)


@dataclass
class _SqliteClaim:
    inbox: Inbox
    events: list[PendingEvent]
    dead_letters: list[PendingDeadLetter]

    def mark_loaded(self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()) -> None:
        self.inbox.mark_loaded(event_seqs, dead_letter_seqs)

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        return nullcontext()  # the only loader; the process's write lock does the rest


# -- which inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxLocation:
    """Where the inbox is: a SQLite file (the data dir's inbox.db) or a PostgreSQL URL."""

    path: Path | None = None
    url: Secret | None = None  # it may hold a password

    @classmethod
    def of(cls, where: Path | InboxLocation) -> InboxLocation:
        return where if isinstance(where, InboxLocation) else cls(path=where)

    @property
    def shared(self) -> bool:
        """A PostgreSQL inbox: any number of receivers and loaders, on any machines."""
        return self.url is not None

    def __str__(self) -> str:
        return mask_url(self.url.reveal()) if self.url is not None else str(self.path)

    __repr__ = __str__

    def open(self, *, timeout: float = 30.0) -> InboxBackend:
        """A connection to the inbox, for one thread. `timeout` bounds a wait for a lock (and,
        for PostgreSQL, for the server: connecting and every statement)."""
        if self.url is not None:
            from cio_warehouse.webhooks.postgres_inbox import PostgresInbox

            return PostgresInbox(self.url, timeout=timeout)
        assert self.path is not None
        return Inbox(self.path, timeout=timeout)


_POSTGRES_SCHEMES = ("postgresql", "postgres")


def inbox_location(data_dir: DataDir, url: str | Secret | None = None) -> InboxLocation:
    """The inbox a process of this deployment uses: `url` (`--inbox`), else $CIO_WAREHOUSE_INBOX,
    else the data dir's inbox.db. Raises StateError for a URL that is not PostgreSQL's."""
    raw = url.reveal() if isinstance(url, Secret) else url
    raw = (raw or os.environ.get(ENV_INBOX) or "").strip()
    if not raw:
        return InboxLocation(path=data_dir.inbox)
    parts = urlsplit(raw)
    if parts.scheme.lower() not in _POSTGRES_SCHEMES or not parts.hostname:
        raise StateError(
            "The inbox URL must be a PostgreSQL one, postgresql://USER:PASSWORD@HOST:5432/DATABASE "
            f"(--inbox or ${ENV_INBOX}); leave it unset for the data dir's own inbox.db."
        )
    if not parts.path.strip("/"):
        raise StateError(
            "The inbox URL needs a database: postgresql://USER:PASSWORD@HOST:5432/DATABASE."
        )
    return InboxLocation(url=Secret(raw))


def open_inbox(
    data_dir: DataDir, url: str | Secret | None = None, *, timeout: float = 30.0
) -> InboxBackend:
    """inbox_location(data_dir, url).open(): for one-off reads and writes (status, remove)."""
    return inbox_location(data_dir, url).open(timeout=timeout)




# How often a writer tries again for the write lock while another connection holds it.
_LOCK_POLL_SECONDS = 0.0005
# The loader's marks and deletes: rows per transaction (1-2 ms of work), and the
# pause after each, longer than the poll above so that a waiting receiver gets its turn.
_BOOKKEEPING_CHUNK = 512
_BOOKKEEPING_PAUSE_SECONDS = 0.001

# Events per multi-row statement: at most _CHUNK texts of each of the two statements, well
# within the connection's statement cache (128), so that each is prepared once.
_CHUNK = 32

_COUNTER = {
    Result.STORED: "stored",
    Result.DUPLICATE: "duplicates",
    Result.DEAD_LETTERED: "dead_letters",
    Result.DROPPED: "dropped",
}


@functools.cache
def _select_existing(n: int) -> str:
    marks = ", ".join("?" * n)
    return f"SELECT event_id FROM events WHERE source = ? AND event_id IN ({marks})"


@functools.cache
def _insert_events(n: int) -> str:
    rows = ", ".join(["(?, ?, ?, ?)"] * n)
    return f"INSERT INTO events (source, event_id, received_at, body) VALUES {rows}"


@functools.cache
def _health_upsert(n: int) -> str:
    rows = ", ".join(["(?, ?, ?)"] * n)
    return (f"INSERT INTO health (source, counter, value) VALUES {rows}"
            " ON CONFLICT (source, counter) DO UPDATE SET value = value + excluded.value")



@functools.cache
def _marks_upsert(n: int) -> str:
    # One row per source for the whole group, as if its deliveries had been marked one by one:
    # the last delivery that verified (or had no key to verify with) sets last_delivery_at and
    # ends the rejection streak; the rejections after it continue (or start) the streak.
    rows = ", ".join(["(?, ?, ?, ?, ?)"] * n)
    return (
        "INSERT INTO health_marks (source, last_delivery_at, last_rejected_at, last_rejection,"
        f" consecutive_rejections) VALUES {rows} ON CONFLICT (source) DO UPDATE SET"
        " last_delivery_at = coalesce(excluded.last_delivery_at, last_delivery_at),"
        " last_rejection = CASE WHEN excluded.last_rejected_at IS NULL THEN last_rejection"
        " ELSE excluded.last_rejection END,"
        " last_rejected_at = coalesce(excluded.last_rejected_at, last_rejected_at),"
        " consecutive_rejections = CASE WHEN excluded.last_delivery_at IS NULL"
        " THEN consecutive_rejections + excluded.consecutive_rejections"
        " ELSE excluded.consecutive_rejections END"
    )


def tally_health(
    submissions: Sequence[Submission], results: Sequence[Result]
) -> tuple[list[tuple[str, str, int]], list[list[object]]]:
    """The group's health: counter increments, and one health_marks row per source."""
    counts: dict[tuple[str, str], int] = {}
    marks: dict[str, list[object]] = {}
    for sub, result in zip(submissions, results, strict=True):
        source = sub.source
        counter = _COUNTER.get(result) or f"rejected:{sub.reason or 'unknown'}"
        counts[(source, "received")] = counts.get((source, "received"), 0) + 1
        counts[(source, counter)] = counts.get((source, counter), 0) + 1
        # [source, last_delivery_at, last_rejected_at, last_rejection, rejections since then]
        mark = marks.get(source)
        if mark is None:
            mark = marks[source] = [source, None, None, None, 0]
        if result is Result.REJECTED:
            mark[2] = sub.received_at
            mark[3] = sub.reason
            mark[4] += 1  # type: ignore[operator]
        else:
            mark[1] = sub.received_at
            mark[4] = 0
    return [(s, c, n) for (s, c), n in counts.items()], list(marks.values())
