"""The shared inbox: the SQLite inbox's tables in PostgreSQL, for receivers on many machines.

Any number of receiver processes behind a load balancer write here, and any number of loaders
drain it. What makes that safe:

- A group of deliveries is one transaction, sent as one query (one round trip): a multi-row
  `INSERT ... ON CONFLICT (source, event_id) DO NOTHING RETURNING`, so the rows returned were
  stored and the others were duplicates, whichever receiver took the first copy (and the dead
  letters' INSERT before it). The server answers after the COMMIT, which is durable under its
  synchronous_commit (turned on for this session when the server has it off); only then does
  the receiver ack. The rows go in (source, event_id) order: two receivers inserting
  overlapping groups take the unique index's locks in one order and cannot deadlock.
- The health counters are a second query on a second session, whose commits do not wait for
  the WAL flush (synchronous_commit off; a later durable commit flushes them): every receiver
  updates the same counter rows, and holding their row locks through an fsync would serialize
  all the receivers' commits. Counts that could not be written go with the next group's; only a
  crash of the receiver, or of the server, in between loses a group's counts, never an event.
- A loader claims its rows with `SELECT ... FOR UPDATE SKIP LOCKED` in a transaction held across
  the warehouse load; the marks are written in that transaction and committed after it. Two
  loaders never take the same rows, and a loader that dies releases its claim with its session.
- A connection that fails raises InboxUnavailable (the receiver answers 503, Customer.io
  retries), and the next use connects again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg2

from cio_warehouse.secret import Secret
from cio_warehouse.webhooks.inbox import model
from cio_warehouse.webhooks.inbox.model import (
    RETENTION_SECONDS,
    Claim,
    Health,
    InboxUnavailable,
    Kind,
    Result,
    Submission,
    tally_health,
)
from cio_warehouse.webhooks.inbox.postgres_schema import SCHEMA, ensure_schema
from cio_warehouse.webhooks.inbox.postgres_session import Connection, Cursor, PostgresSession

log = logging.getLogger(__name__)

_INSERT_EVENTS = (
    f"INSERT INTO {SCHEMA}.events (source, event_id, received_at, body) VALUES %s"
    " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
)
_INSERT_DEAD = f"INSERT INTO {SCHEMA}.dead_letters (source, received_at, reason, body) VALUES %s"
_HEALTH_UPSERT = (
    f"INSERT INTO {SCHEMA}.health AS h (source, counter, value) VALUES %s"
    " ON CONFLICT (source, counter) DO UPDATE SET value = h.value + excluded.value"
)
# As the SQLite inbox's, with greatest() for the times: receivers commit in any order.
_MARKS_UPSERT = (
    f"INSERT INTO {SCHEMA}.health_marks AS m (source, last_delivery_at, last_rejected_at,"
    " last_rejection, consecutive_rejections) VALUES %s ON CONFLICT (source) DO UPDATE SET"
    " last_delivery_at = greatest(excluded.last_delivery_at, m.last_delivery_at),"
    " last_rejection = CASE WHEN excluded.last_rejected_at IS NOT NULL AND"
    " excluded.last_rejected_at >= coalesce(m.last_rejected_at, '-infinity')"
    " THEN excluded.last_rejection ELSE m.last_rejection END,"
    " last_rejected_at = greatest(excluded.last_rejected_at, m.last_rejected_at),"
    " consecutive_rejections = CASE WHEN excluded.last_delivery_at IS NULL"
    " THEN m.consecutive_rejections + excluded.consecutive_rejections"
    " ELSE excluded.consecutive_rejections END"
)
_PENDING_EVENTS = (
    f"SELECT seq, source, event_id, received_at, body FROM {SCHEMA}.events"
    " WHERE loaded_at IS NULL ORDER BY seq LIMIT %s"
)
_PENDING_DEAD = (
    f"SELECT seq, source, received_at, reason, body FROM {SCHEMA}.dead_letters"
    " WHERE loaded_at IS NULL ORDER BY seq LIMIT %s"
)
_CLAIM_EVENTS = (
    f"SELECT seq, source, event_id, received_at, body FROM {SCHEMA}.events"
    " WHERE loaded_at IS NULL AND (%s OR source = ANY(%s)) ORDER BY seq LIMIT %s"
    " FOR UPDATE SKIP LOCKED"
)
_CLAIM_DEAD = (
    f"SELECT seq, source, received_at, reason, body FROM {SCHEMA}.dead_letters"
    " WHERE loaded_at IS NULL AND (%s OR source = ANY(%s)) ORDER BY seq LIMIT %s"
    " FOR UPDATE SKIP LOCKED"
)
# Rows per UPDATE or DELETE of the loader's bookkeeping.
_CHUNK = 10_000
# Deliveries whose counts wait for the database to be back, at most (a long outage of a busy
# stream of rejections must not grow the receiver's memory without end).
_MAX_UNCOUNTED = 100_000

class PostgresInbox:
    """A session on the shared inbox (two for a receiver: the counts have their own); open one
    per thread, like the SQLite Inbox. Its statements commit one by one (autocommit) unless
    a transaction or a claim groups them."""

    def __init__(self, url: Secret, *, timeout: float = 30.0, purpose: str = "inbox") -> None:
        self.url = url
        self._session = PostgresSession(url, timeout=timeout, purpose=purpose,
                                        setup=ensure_schema)
        self._counts = PostgresSession(url, timeout=timeout, purpose=purpose + " counts",
                                       durable=False)
        # Deliveries (without their bodies) and results whose counts are not written yet.
        self._uncounted: list[tuple[Submission, Result]] = []
        self._session.connection()  # connected, and the tables migrated, or InboxUnavailable

    def __str__(self) -> str:
        return str(self._session)

    def close(self) -> None:
        self._session.close()
        self._counts.close()

    # -- the receiver's side -------------------------------------------------------------------

    def write(self, submissions: Sequence[Submission]) -> list[Result]:
        """Store a group in ONE transaction (group commit); results in order.

        Raises InboxUnavailable when nothing could be committed: the receiver then answers 503
        to every delivery of the group and Customer.io retries them.
        """
        if not submissions:
            return []
        results: list[Result] = [Result.DROPPED] * len(submissions)
        firsts: dict[tuple[str, str], int] = {}  # (source, event_id) -> its first delivery
        events: list[tuple[str, str, float, bytes]] = []
        dead: list[tuple[str, float, str, bytes]] = []
        for i, sub in enumerate(submissions):
            kind = sub.kind
            if kind is Kind.EVENT:
                key = (sub.source, sub.event_id or "")
                if key in firsts:  # twice in this very group
                    results[i] = Result.DUPLICATE
                    continue
                firsts[key] = i
                events.append((sub.source, key[1], sub.received_at, sub.body))
            elif kind is Kind.DEAD_LETTER:
                dead.append((sub.source, sub.received_at, sub.reason or "unusable body", sub.body))
                results[i] = Result.DEAD_LETTERED
            elif kind is Kind.REJECTED:
                results[i] = Result.REJECTED
        if events or dead:
            # One query, so one implicit transaction and one round trip; the events' INSERT
            # last, so that its RETURNING rows are the query's result.
            with self._session.transaction(single=True) as cur:
                queries = []
                if dead:
                    queries.append(_values(cur, _INSERT_DEAD, dead))
                if events:
                    events.sort(key=lambda row: (row[0], row[1]))  # one lock order: see above
                    queries.append(_values(cur, _INSERT_EVENTS, events))
                cur.execute(b"; ".join(queries))
                if events:
                    new = {(source, event_id) for source, event_id in cur.fetchall()}
                    for key, i in firsts.items():
                        results[i] = Result.STORED if key in new else Result.DUPLICATE
        self._count(submissions, results)
        return results

    def _count(self, submissions: Sequence[Submission], results: Sequence[Result]) -> None:
        pending = self._uncounted
        pending += [(Submission(sub.source, sub.kind, sub.received_at, reason=sub.reason), result)
                    for sub, result in zip(submissions, results, strict=True)]
        del pending[:-_MAX_UNCOUNTED]
        counters, marks = tally_health([p[0] for p in pending], [p[1] for p in pending])
        try:
            with self._counts.transaction(single=True) as cur:
                # One query, one implicit transaction; sorted, and counters before marks:
                # one lock order for the rows that every receiver updates.
                cur.execute(_values(cur, _HEALTH_UPSERT, sorted(counters)) + b"; "
                            + _values(cur, _MARKS_UPSERT, sorted(marks, key=lambda m: str(m[0]))))
        except InboxUnavailable as exc:  # the deliveries are stored: their counts wait
            log.warning("could not count %d deliveries in the inbox's health yet: %s",
                        len(pending), exc)
        else:
            pending.clear()

    # -- the loader's side ---------------------------------------------------------------------

    def pending_events(self, limit: int) -> list[model.PendingEvent]:
        with self._session.transaction(single=True) as cur:
            cur.execute(_PENDING_EVENTS, (limit,))
            return [_event(row) for row in cur.fetchall()]

    def pending_dead_letters(self, limit: int) -> list[model.PendingDeadLetter]:
        with self._session.transaction(single=True) as cur:
            cur.execute(_PENDING_DEAD, (limit,))
            return [_dead_letter(row) for row in cur.fetchall()]

    @contextmanager
    def claim(self, limit: int, sources: Sequence[str] | None = None) -> Iterator[Claim]:
        """Pending rows no other loader holds (of `sources` only, if given), locked until this
        claim ends.

        The marks are committed at the end whatever happened in between: each was made after
        its warehouse commit. If that COMMIT fails (the session died), the rows are claimable
        again and load once more, which the warehouse's merge on event_id makes harmless.
        """
        conn = self._session.connection()
        try:
            cur = conn.cursor()
            cur.execute("BEGIN")
            which = (sources is None, list(sources or ()), limit)
            cur.execute(_CLAIM_EVENTS, which)
            events = [_event(row) for row in cur.fetchall()]
            cur.execute(_CLAIM_DEAD, which)
            dead = [_dead_letter(row) for row in cur.fetchall()]
        except psycopg2.Error as exc:
            self._session.abandon(conn)
            raise InboxUnavailable(self._session.describe(exc)) from None
        claim = _PostgresClaim(self._session, cur, events, dead)
        try:
            yield claim
        except BaseException:
            self._end_claim(conn, cur, raising=False)
            raise
        self._end_claim(conn, cur, raising=True)

    def _end_claim(self, conn: Connection, cur: Cursor, *, raising: bool) -> None:
        try:
            cur.execute("COMMIT")
            cur.close()
        except psycopg2.Error as exc:
            self._session.abandon(conn)
            if raising:
                raise InboxUnavailable(self._session.describe(exc)) from None
            log.warning("a loader's marks were not committed (those rows load again): %s",
                        self._session.describe(exc))

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None:
        """Outside a claim (tests, tools): marks in short transactions."""
        now = time.time()
        for table, seqs in (("events", list(event_seqs)), ("dead_letters", list(dead_letter_seqs))):
            for start in range(0, len(seqs), _CHUNK):
                with self._session.transaction() as cur:
                    _mark(cur, table, now, seqs[start:start + _CHUNK])

    def prune(self, now: float | None = None) -> int:
        """Forget loaded rows older than the retention, in short transactions; how many went."""
        cutoff = (time.time() if now is None else now) - RETENTION_SECONDS
        gone = 0
        for table in ("events", "dead_letters"):
            while True:
                with self._session.transaction(single=True) as cur:
                    cur.execute(
                        f"DELETE FROM {SCHEMA}.{table} WHERE seq IN (SELECT seq FROM"  # noqa: S608
                        f" {SCHEMA}.{table} WHERE loaded_at IS NOT NULL AND received_at < %s"
                        " LIMIT %s)",
                        (cutoff, _CHUNK),
                    )
                    deleted = cur.rowcount
                gone += deleted
                if deleted < _CHUNK:
                    break
        return gone

    def forget_source(self, source: str) -> None:
        """A removed source's rows, counters and published keys go (see Inbox.forget_source)."""
        with self._session.transaction() as cur:
            for table in ("events", "dead_letters", "health", "health_marks", "signing_keys"):
                cur.execute(f"DELETE FROM {SCHEMA}.{table} WHERE source = %s",  # noqa: S608
                            (source,))

    # -- delivery health -----------------------------------------------------------------------

    def health(self, source: str) -> Health:
        with self._session.transaction() as cur:
            cur.execute(f"SELECT counter, value FROM {SCHEMA}.health WHERE source = %s",
                        (source,))
            counters = {counter: int(value) for counter, value in cur.fetchall()}
            cur.execute(
                "SELECT last_delivery_at, last_rejected_at, last_rejection, consecutive_rejections"
                f" FROM {SCHEMA}.health_marks WHERE source = %s",
                (source,),
            )
            marks = cur.fetchone() or (None, None, None, 0)
            cur.execute(
                f"SELECT count(*), min(received_at) FROM {SCHEMA}.events"
                " WHERE source = %s AND loaded_at IS NULL",
                (source,),
            )
            backlog, oldest = cur.fetchone()
        return Health(source, counters, marks[0], marks[1], marks[2], marks[3], int(backlog),
                      oldest)


class _PostgresClaim:
    def __init__(self, session: PostgresSession, cur: Cursor, events: list[model.PendingEvent],
                 dead_letters: list[model.PendingDeadLetter]) -> None:
        self._session = session
        self._cur = cur
        self.events = events
        self.dead_letters = dead_letters

    def mark_loaded(self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()) -> None:
        now = time.time()
        try:
            _mark(self._cur, "events", now, list(event_seqs))
            _mark(self._cur, "dead_letters", now, list(dead_letter_seqs))
        except psycopg2.Error as exc:
            raise InboxUnavailable(self._session.describe(exc)) from None

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        return self._exclusive(key)

    @contextmanager
    def _exclusive(self, key: str) -> Iterator[None]:
        """A session advisory lock on the key's hash (the key may be a URL with a password: only
        its hash reaches the server), waited for without a statement timeout: another loader's
        load may take a while. Its session's end releases it, should this process die."""
        lock = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                              signed=True)
        cur = self._cur
        try:
            cur.execute("SELECT set_config('statement_timeout', '0', true)")
            cur.execute("SELECT pg_advisory_lock(%s)", (lock,))
            cur.execute("SELECT set_config('statement_timeout', %s, true)",
                        (f"{int(self._session.timeout * 1000)}",))
        except psycopg2.Error as exc:
            raise InboxUnavailable(self._session.describe(exc)) from None
        try:
            yield
        finally:
            try:
                cur.execute("SELECT pg_advisory_unlock(%s)", (lock,))
            except psycopg2.Error as exc:  # the session is gone, and its lock with it
                log.warning("could not release a loader lock: %s", self._session.describe(exc))


def _values(cur: Cursor, statement: str, rows: Sequence[Sequence[object]]) -> bytes:
    """`statement` with its `VALUES %s` filled with `rows`, quoted by the driver."""
    width = len(rows[0])
    row = ("(" + ", ".join(["%s"] * width) + ")").encode()
    values = b", ".join(cur.mogrify(row, r) for r in rows)
    head, tail = statement.encode().split(b"%s", 1)
    return head + values + tail


def _mark(cur: Cursor, table: str, now: float, seqs: list[int]) -> None:
    if seqs:
        cur.execute(f"UPDATE {SCHEMA}.{table} SET loaded_at = %s WHERE seq = ANY(%s)",  # noqa: S608
                    (now, seqs))


def _event(row: tuple[Any, ...]) -> model.PendingEvent:
    seq, source, event_id, received_at, body = row
    return model.PendingEvent(int(seq), source, event_id, float(received_at), bytes(body))


def _dead_letter(row: tuple[Any, ...]) -> model.PendingDeadLetter:
    seq, source, received_at, reason, body = row
    return model.PendingDeadLetter(int(seq), source, float(received_at), reason, bytes(body))
