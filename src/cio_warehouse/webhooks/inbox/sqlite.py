"""The SQLite inbox: the data dir's inbox.db, durable before the receiver acks.

WAL mode with synchronous=FULL, so a row is on disk when its transaction commits, and the
receiver answers 2xx only after that commit. `UNIQUE(source, event_id)` makes a retried delivery
(Customer.io retries for up to 7 days) a no-op, counted as a duplicate.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from cio_warehouse.webhooks.inbox.model import (
    RETENTION_SECONDS,
    Claim,
    Health,
    Kind,
    PendingDeadLetter,
    PendingEvent,
    Result,
    Submission,
    tally_health,
)

# The schema as the first release made it (PRAGMA user_version 0 then): every statement is
# "IF NOT EXISTS", so it also brings an inbox of that release to version 1 unchanged.
_SCHEMA_V1 = """
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

# Ordered: MIGRATIONS[n - 1] brings an inbox from version n - 1 to n (PRAGMA user_version). A
# change to the tables is a new entry at the end, never an edit of one that shipped.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)


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
        # From here on SQLite never waits by itself: _begin polls for the write lock, and reads
        # wait through SQLite's handler (_waiting), which a WAL read rarely needs.
        self._db.execute("PRAGMA busy_timeout = 0")
        self._migrate()

    def _migrate(self) -> None:
        """Bring the tables to the last version, each migration once, in order: opening an
        inbox that is current writes nothing. A newer inbox is left as it is (a migration only
        adds, so this release still reads and writes it)."""
        if self._version() >= len(MIGRATIONS):
            return
        with self._transaction() as db:
            version = self._version()  # another process may have migrated meanwhile
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {max(version, len(MIGRATIONS))}")

    def _version(self) -> int:
        with self._waiting() as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version

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

    def _by_runs(self, sql: str, seqs: Iterable[int], *params: object) -> None:
        """`sql`, which ends in `seq BETWEEN ? AND ?`, once per run of consecutive seqs (every
        seq of a run is one of `seqs`, so its range holds nothing else): a claim's rows are
        mostly one run, which SQLite settles in one statement instead of one bound statement
        per row (half the time a row). At most _BOOKKEEPING_CHUNK rows a transaction, pausing
        between two."""
        for i, chunk in enumerate(_chunks_of_runs(seqs, _BOOKKEEPING_CHUNK)):
            if i:
                time.sleep(_BOOKKEEPING_PAUSE_SECONDS)  # the receiver's turn, if it waits
            with self._transaction() as db:
                db.executemany(sql, [(*params, first, last) for first, last in chunk])

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
        """The pending rows (of `sources` only, when named: a paused source's wait), marked as
        they load. One loader per data dir drains this inbox (the service's), so a claim locks
        nothing."""
        yield _SqliteClaim(self, self.pending_events(limit, sources),
                           self.pending_dead_letters(limit, sources))

    def pending_events(
        self, limit: int, sources: Sequence[str] | None = None
    ) -> list[PendingEvent]:
        only, names = _only(sources)
        with self._waiting() as db:
            rows = db.execute(
                "SELECT seq, source, event_id, received_at, body FROM events"
                f" WHERE loaded_at IS NULL{only} ORDER BY seq LIMIT ?",
                (*names, limit),
            ).fetchall()
        return [PendingEvent(*row) for row in rows]

    def pending_dead_letters(
        self, limit: int, sources: Sequence[str] | None = None
    ) -> list[PendingDeadLetter]:
        only, names = _only(sources)
        with self._waiting() as db:
            rows = db.execute(
                "SELECT seq, source, received_at, reason, body FROM dead_letters"
                f" WHERE loaded_at IS NULL{only} ORDER BY seq LIMIT ?",
                (*names, limit),
            ).fetchall()
        return [PendingDeadLetter(*row) for row in rows]

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None:
        """Called only after the warehouse committed these rows; in short transactions (see
        _bookkeeping and _in_chunks)."""
        now = time.time()
        with self._bookkeeping():
            self._by_runs("UPDATE events SET loaded_at = ? WHERE seq BETWEEN ? AND ?",
                          event_seqs, now)
            self._by_runs("UPDATE dead_letters SET loaded_at = ? WHERE seq BETWEEN ? AND ?",
                          dead_letter_seqs, now)

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
                self._by_runs(f"DELETE FROM {table} WHERE seq BETWEEN ? AND ?",  # noqa: S608
                              (seq for (seq,) in due))
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
            backlog, oldest = db.execute(
                "SELECT count(*), min(received_at) FROM events"
                " WHERE source = ? AND loaded_at IS NULL", (source,)
            ).fetchone()
        return Health(source, counters, marks[0], marks[1], marks[2], marks[3], backlog, oldest)


@dataclass
class _SqliteClaim:
    inbox: Inbox
    events: list[PendingEvent]
    dead_letters: list[PendingDeadLetter]

    def mark_loaded(self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()) -> None:
        self.inbox.mark_loaded(event_seqs, dead_letter_seqs)

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        return nullcontext()  # the only loader; the process's write lock does the rest


def _chunks_of_runs(seqs: Iterable[int], size: int) -> list[list[tuple[int, int]]]:
    """The seqs as runs of consecutive integers (first, last), grouped so that no group spans
    more than `size` seqs (a longer run is split)."""
    chunks: list[list[tuple[int, int]]] = []
    chunk: list[tuple[int, int]] = []
    room = size
    ordered = sorted(set(seqs))
    i = 0
    while i < len(ordered):
        first = last = ordered[i]
        i += 1
        while i < len(ordered) and ordered[i] == last + 1 and last - first + 1 < room:
            last = ordered[i]
            i += 1
        chunk.append((first, last))
        room -= last - first + 1
        if room == 0:
            chunks.append(chunk)
            chunk, room = [], size
    if chunk:
        chunks.append(chunk)
    return chunks


# How often a writer tries again for the write lock while another connection holds it.
_LOCK_POLL_SECONDS = 0.0005
# The loader's marks and deletes: rows per transaction (1-2 ms of work), and the
# pause after each, longer than the poll above so that a waiting receiver gets its turn.
_BOOKKEEPING_CHUNK = 512
_BOOKKEEPING_PAUSE_SECONDS = 0.001

# Events per multi-row statement: at most _CHUNK texts of each of the two statements, well
# within the connection's statement cache (128), so that each is prepared once.
_CHUNK = 32



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


def _only(sources: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameters) for rows of `sources` only; None: every source."""
    if sources is None:
        return "", ()
    names = tuple(sources)
    return f" AND source IN ({', '.join('?' * len(names))})" if names else " AND false", names
