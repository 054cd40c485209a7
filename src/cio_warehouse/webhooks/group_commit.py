"""Group commit: one writer thread commits all that is queued in one transaction (one fsync)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from cio_warehouse.log_throttle import LogThrottle
from cio_warehouse.webhooks.inbox import (
    InboxBackend,
    InboxLocation,
    InboxUnavailable,
    Result,
    Submission,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 512
# After a group at least this big, the writer waits DEFAULT_LINGER_SECONDS for the rest of the
# stream before it commits (see GroupCommitter).
LINGER_AFTER = 8
DEFAULT_LINGER_SECONDS = 0.0005
# Customer.io waits 4 s for a 2xx: waiting longer than this for a lock held by another process
# (the loader) only turns a quick 503 (retried with backoff) into a timeout.
DEFAULT_BUSY_TIMEOUT_SECONDS = 2.0
# While the inbox cannot commit (a full disk fails every group, hundreds a second), how often to
# say so again: one line per failed group would flood a log that often sits on that same disk.
OUTAGE_LOG_EVERY_SECONDS = 60.0


class CommitError(Exception):
    """The delivery is not durable: the receiver must answer 503 so that Customer.io retries."""


# A queued delivery: what to store, and its request's future on the event loop that awaits it.
_Waiter = tuple[Submission, asyncio.AbstractEventLoop, "asyncio.Future[Result]"]
_STOP = object()  # queued last by close()


class GroupCommitter:
    """`await committer.submit(sub)` returns once `sub` is committed (fsync'd) with its group.

    Classic group commit: the writer thread sleeps until a delivery is queued, then commits
    everything queued (up to max_batch) in one transaction. Deliveries that arrive while that
    commit and its fsync run form the next group. So a lone delivery waits for one commit and
    nothing else, and under load the groups grow by themselves with the commit time (the fsync),
    which is what bounds the throughput.

    Except after a big group (LINGER_AFTER or more): then the writer sleeps linger_seconds
    before a group that is still smaller, so that the acks of the last group, answered just now,
    come back as requests in time for this one. Without it, a steady stream splits into a big
    group and a few stragglers' small one, each paying a whole transaction, and the writer's
    every statement hands the GIL to and fro with the event loop. The sleep ends once it has
    the GIL back, that is once the event loop has answered and read what it could. Under wrk
    (32 connections) groups went from ~17 to ~30 deliveries and the process's CPU per ack from
    85 to 75 us (the writer thread 25 -> 20, the event loop 60 -> 55). A trickle never
    lingers (its groups are small), so it still waits for one commit only.

    One thread owns the only Inbox connection (sqlite3 connections are per thread). Request
    handlers put their submissions on a queue (a C SimpleQueue: a put wakes the writer only when
    it sleeps on it); the writer settles each group's futures with one
    `loop.call_soon_threadsafe` per event loop.
    """

    def __init__(
        self,
        inbox_path: Path | InboxLocation,  # a path: that SQLite file
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.inbox_path = inbox_path
        self.max_batch = max_batch
        self.linger_seconds = linger_seconds
        self.busy_timeout_seconds = busy_timeout_seconds
        self._queue: queue.SimpleQueue[_Waiter | object] = queue.SimpleQueue()
        # Orders enqueue() against close(): nothing is queued behind the stop marker. Only
        # request handlers and close() take it (the writer does not), so it is uncontended.
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._inbox: InboxBackend | None = None
        self._outage = _Outage(inbox_path)
        # Counters for tests and benchmarks (written by the writer thread only).
        self.groups = 0  # commits attempted
        self.submitted = 0  # deliveries in them
        self.largest_group = 0
        self.lingered = 0  # groups that waited for more
        self._last_group = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> GroupCommitter:
        """Open the inbox and start the writer thread. An inbox that cannot be opened raises
        here, but for a shared one that is unreachable: its database may come up after the
        receiver (a reboot, a failover), so the receiver answers 503 until then, each group
        trying the connection again."""
        if self._thread is not None:
            raise RuntimeError("this GroupCommitter was already started")
        opened = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self._inbox = self._open()
            except InboxUnavailable as exc:
                log.warning("the shared inbox is unreachable, answering 503 until it is back: %s",
                            exc)
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                opened.set()
            self._run()

        self._thread = threading.Thread(target=run, name="cio-inbox-writer", daemon=True)
        self._thread.start()
        opened.wait()
        if failure:
            self._closed = True
            raise failure[0]
        return self

    def close(self, timeout: float | None = None) -> None:
        """Stop taking submissions, commit everything already queued, then stop the thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> GroupCommitter:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- the request handlers' side -----------------------------------------------------------

    async def submit(self, submission: Submission) -> Result:
        """The result once the group holding `submission` committed; CommitError if it did not."""
        return await self.enqueue(submission)

    def enqueue(
        self, submission: Submission, loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Future[Result]:
        """Queue `submission` from a running event loop (`loop`: that loop, when the caller
        knows it; asyncio.get_running_loop() costs a getpid() system call on Python 3.11);
        its future is the result of submit().

        Raises CommitError at once when the writer is not running.
        """
        if loop is None:
            loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        with self._lock:
            if self._closed or self._thread is None:
                raise CommitError("the inbox writer is not running")
            self._queue.put((submission, loop, future))
        return future

    # -- the writer thread --------------------------------------------------------------------

    def _open(self) -> InboxBackend:
        return InboxLocation.of(self.inbox_path).open(timeout=self.busy_timeout_seconds)

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._next_batch()
                if batch:
                    self._commit(batch)
        finally:
            # Normally the queue is empty here (close() queues the stop marker last); if the
            # thread died instead, fail whoever still waits rather than leave them hanging.
            with self._lock:
                self._closed = True
            leftovers: list[_Waiter] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    leftovers.append(item)  # type: ignore[arg-type]
            self._resolve(leftovers, [CommitError("the inbox writer stopped")] * len(leftovers))
            self._discard_inbox()

    def _next_batch(self) -> tuple[list[_Waiter], bool]:
        """Sleep until a submission is queued, then take it and everything queued behind it
        (up to max_batch) without waiting for more; True once the stop marker was taken."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[_Waiter] = [first]  # type: ignore[list-item]
        stopping = self._take_queued(batch)
        wanted = min(self._last_group, self.max_batch)
        if not stopping and wanted >= LINGER_AFTER and len(batch) < wanted and self.linger_seconds:
            # One sleep, not a wait on the queue: a wait would be woken by every delivery.
            self.lingered += 1
            time.sleep(self.linger_seconds)
            stopping = self._take_queued(batch)
        self._last_group = len(batch)
        return batch, stopping

    def _take_queued(self, batch: list[_Waiter]) -> bool:
        """Move what is queued into `batch`, up to max_batch; True once the stop marker came."""
        take = self._queue.get_nowait
        while len(batch) < self.max_batch:
            try:
                item = take()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            batch.append(item)  # type: ignore[arg-type]
        return False

    def _commit(self, batch: Sequence[_Waiter]) -> None:
        self.groups += 1
        self.submitted += len(batch)
        self.largest_group = max(self.largest_group, len(batch))
        try:
            if self._inbox is None:
                self._inbox = self._open()
            results: Sequence[Result | CommitError] = self._inbox.write(
                [waiter[0] for waiter in batch]
            )
        except Exception as exc:  # disk full, database locked, I/O error: nothing was committed
            self._outage.failed(len(batch), exc)
            # A failed COMMIT can leave the transaction open; a fresh connection for the next
            # group is simpler than reasoning about which statement failed. A shared inbox
            # rolls back and reconnects by itself, and keeps the counts it could not write yet.
            if not InboxLocation.of(self.inbox_path).shared:
                self._discard_inbox()
            error = CommitError(f"the inbox could not commit: {type(exc).__name__}")
            results = [error] * len(batch)
        else:
            if self._outage.failing:
                self._outage.succeeded()
        self._resolve(batch, results)

    def _discard_inbox(self) -> None:
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            # Closing a broken connection may fail too; the next group opens a new one.
            with contextlib.suppress(Exception):
                inbox.close()

    @staticmethod
    def _resolve(batch: Sequence[_Waiter], outcomes: Sequence[Result | CommitError]) -> None:
        # One hand-off per event loop per group, not one per delivery.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Result], object]]] = {}
        for (_, loop, future), outcome in zip(batch, outcomes, strict=True):
            pairs = by_loop.get(loop)
            if pairs is None:
                pairs = by_loop[loop] = []
            pairs.append((future, outcome))
        for loop, pairs in by_loop.items():
            # RuntimeError: the loop is closed, so its requests are gone and nobody waits.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, pairs)


class _Outage:
    """What the log says about failed commits (writer thread only).

    A full disk fails every group, hundreds a second, and the log often sits on that disk. So a
    failure is logged unless the latest line already says the inbox fails and is less than
    OUTAGE_LOG_EVERY_SECONDS old (it is counted into the next line instead); a recovery is
    logged at most once per OUTAGE_LOG_EVERY_SECONDS (a disk with a few free pages fails and
    commits by turns). Either way the latest line is at most that old a picture of the inbox.
    """

    def __init__(self, inbox_path: Path | InboxLocation) -> None:
        self.inbox_path = inbox_path  # a shared inbox's URL shows with its password masked
        self._fix = (
            "check that its PostgreSQL is up, reachable and not out of space"
            if InboxLocation.of(inbox_path).shared
            else "free disk space there and check that the file can be written"
        )
        self.failing = False  # a failure is not yet followed by a logged recovery
        self._refused = 0  # deliveries answered 503 since the latest error line
        self._throttle = LogThrottle(OUTAGE_LOG_EVERY_SECONDS)  # keys: "error", "recovery"

    def failed(self, deliveries: int, exc: Exception) -> None:
        self.failing = True
        self._refused += deliveries
        if not self._throttle.allow("error"):
            return
        # sqlite3's messages name the failure ("database or disk is full", "disk I/O error",
        # "database is locked"), never a row's values, and so do a shared inbox's (without the
        # URL's password); other errors only by their type.
        what = type(exc).__name__
        if isinstance(exc, sqlite3.Error | InboxUnavailable):
            what += f": {exc}"
        log.error(
            "the inbox %s cannot commit (%s); answering 503 so Customer.io retries, nothing is "
            "lost: %s (%d deliveries refused since the last such message)",
            self.inbox_path, what, self._fix, self._refused,
        )
        self._refused = 0

    def succeeded(self) -> None:
        if not self._throttle.allow("recovery"):
            return  # still `failing`: a later success logs it
        log.warning("the inbox %s commits again", self.inbox_path)
        self._throttle.reset("error")  # the latest line says it commits: a failure says so
        self.failing = False


def _settle(pairs: Sequence[tuple[asyncio.Future[Result], object]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the request was cancelled (client went away); the row stays
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
