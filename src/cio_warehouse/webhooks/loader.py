"""The event loader: drains the webhook inbox into each source's event tables."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from dlt.common.destination import Destination

from cio_warehouse import catalog
from cio_warehouse.service.priority import lower_current_thread_priority
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.inbox.location import InboxLocation
from cio_warehouse.webhooks.inbox.model import Claim, InboxBackend
from cio_warehouse.webhooks.loading.batch import Tally, items_by_source
from cio_warehouse.webhooks.loading.errors import LoadError, describe
from cio_warehouse.webhooks.loading.isolation import DrainLoads
from cio_warehouse.webhooks.loading.pipelines import Pipelines
from cio_warehouse.webhooks.loading.status import LoaderStatus, LoadStats, StatusBoard

__all__ = ["EventLoader", "LoadError", "LoadStats", "LoaderStatus"]

log = logging.getLogger(__name__)

# Up to this many events per load: while idle each event loads at once; a backlog drains in
# batches this big (tens of MB), where a batch's fixed costs (a transaction per source, the
# inbox's reads and marks) are a small share.
DEFAULT_BATCH_SIZE = 20_000
# While idle, how often the inbox is asked for new events (event-to-queryable adds this at worst).
IDLE_POLL_SECONDS = 0.1
# Loaded inbox rows are kept 8 days (Customer.io retries for up to 7): forgetting them is cheap
# and rarely due.
PRUNE_EVERY_SECONDS = 600.0
# How often the selection is read for event tables that do not exist yet (a table is made once).
TABLES_CHECK_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 30.0

_EVENT_TABLE_NAMES = frozenset(t.name for t in catalog.EVENT_TABLES)


class EventLoader:
    """Inbox -> warehouse, in the process that owns the warehouse (DuckDB: one writer process).

    Each source's events go to that source's destination; `destination` overrides it for all.
    `inbox` is the data dir's inbox.db when None; on a shared (PostgreSQL) inbox any number of
    loaders, here or on other machines, may drain it at once: each claims rows no other holds.
    `appends` False loads every batch with a dlt merge (pipelines.py).
    """

    def __init__(
        self,
        data_dir: DataDir,
        destination: Destination | None = None,  # type: ignore[type-arg]
        *,
        inbox: InboxLocation | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        idle_poll: float = IDLE_POLL_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        appends: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.inbox = inbox or InboxLocation(path=data_dir.inbox)
        self._store: StateStore | None = None  # the sources a loader of a shared inbox loads
        self._pipelines = Pipelines(data_dir, destination, appends=appends)
        self.batch_size = batch_size
        self.idle_poll = idle_poll
        self.backoff_max = backoff_max
        # The connection of drain_once's caller (close() closes it); run_forever has its own.
        self._connection: InboxBackend | None = None
        self._drain_lock = threading.Lock()
        self._board = StatusBoard(backoff_max)
        self._tables_made: set[tuple[str, str]] = set()  # (source, table) known to exist
        self._next_tables_check = 0.0

    @property
    def destination(self) -> Destination | None:  # type: ignore[type-arg]
        return self._pipelines.destination

    # -- the public steps ----------------------------------------------------------------------

    def drain_once(self) -> LoadStats:
        """Load one micro-batch (up to batch_size events and dead letters) of every source.

        Inbox rows are marked loaded only after the warehouse committed them: a crash in between
        loads them again, which the merge on the primary key makes harmless. Raises LoadError when
        the warehouse cannot be written (what did commit stays committed and marked).

        The rows are claimed for the whole drain: on a shared inbox no other loader takes them
        until the marks are committed, after the last warehouse load. There, a loader takes the
        rows of the sources its data dir knows only: another source's destination is not its
        to guess (its own DuckDB file would split that source's events between warehouses).

        On this loader's own inbox connection, which close() closes: call from one thread.
        """
        if self._connection is None:
            self._connection = self.inbox.open()
        return self._drain(self._connection)

    def drain(self) -> LoadStats:
        """drain_once until nothing is pending (tests, benchmarks, a one-shot CLI)."""
        total = LoadStats()
        try:
            while True:
                # Each round, as run_forever: the file is known once the first load opened it.
                self._pipelines.keep_open()
                stats = self.drain_once()
                total += stats
                if not stats.full:
                    return total
        finally:
            self._pipelines.let_go()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Drain until stop_event is set: at once while there is work, else every idle_poll.

        A failure never ends the loop: it backs off (exponentially, capped) and tries again,
        while the inbox keeps every acknowledged event. The loop has an inbox connection of its
        own, for its thread.
        """
        lower_current_thread_priority()  # loading yields the CPU to the webhook receiver
        self._board.running(True)
        inbox: InboxBackend | None = None
        next_prune = 0.0
        try:
            while not stop_event.is_set():
                try:
                    if inbox is None:
                        inbox = self.inbox.open()
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                        _prune(inbox)
                    self._pipelines.keep_open()
                    stats = self._drain(inbox)
                except Exception as exc:  # noqa: BLE001  the loop must outlive any failure
                    self._pipelines.let_go()  # reopened next round, in case the file changed
                    if not isinstance(exc, LoadError):
                        self._board.record(LoadStats(), LoadError(describe(exc)))
                    delay = self._board.backoff()
                    log.warning("event load failed, retrying in %.1f s: %s", delay,
                                self._board.last_error)
                    stop_event.wait(delay)
                    continue
                if stats.idle:
                    stop_event.wait(self.idle_poll)
        finally:
            self._board.running(False)
            self._pipelines.let_go()
            if inbox is not None:
                inbox.close()

    def status(self, sources: Iterable[str] = ()) -> LoaderStatus:
        """Safe from any thread; the backlog is read from the inbox for the sources named."""
        backlog: dict[str, int] = {}
        names = list(sources)
        if names:
            inbox = self.inbox.open()  # its own connection: any thread may ask
            try:
                backlog = {source: inbox.health(source).backlog for source in names}
            finally:
                inbox.close()
        return self._board.status(backlog)

    def close(self) -> None:
        """Close the inbox connection of drain_once and drain, and the warehouse's."""
        self._pipelines.let_go()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- one drain -----------------------------------------------------------------------------

    def _drain(self, inbox: InboxBackend) -> LoadStats:
        sources = self._loadable_sources()
        with self._drain_lock, inbox.claim(self.batch_size, sources) as claim:
            loads = DrainLoads(self._pipelines, claim)
            if time.monotonic() >= self._next_tables_check:
                self._next_tables_check = time.monotonic() + TABLES_CHECK_SECONDS
                self._make_selected_tables(loads)
            return self._load_claimed(claim, loads)

    def _load_claimed(self, claim: Claim, loads: DrainLoads) -> LoadStats:
        started = time.monotonic()
        tally = Tally()
        error: LoadError | None = None
        for source, items in items_by_source(claim).items():
            source_tally = Tally()
            try:
                loads.load_source(source, items, source_tally)
            except LoadError as exc:
                error = error or exc
            tally.add(source_tally)
        full = len(claim.events) >= self.batch_size or len(claim.dead_letters) >= self.batch_size
        stats = LoadStats(
            tally.events, tally.dead_letters, tally.isolated, tally.loads,
            tally.failed_loads, tally.by_table, time.monotonic() - started, full=full,
        )
        self._board.record(stats, error)
        if error is not None:
            raise error
        return stats

    def _make_selected_tables(self, loads: DrainLoads) -> None:
        """Selected event tables exist, empty, before their first event: a workspace that sends
        no SMS still answers `select count(*) from sms_events` with 0, as its dashboards expect.

        Best effort: a warehouse that is down fails the event loads that follow, which report it.
        """
        try:
            store = self._state()
            wanted = [
                (name, table)
                for name in store.source_names()
                for table in store.get_source(name).tables
                if table in _EVENT_TABLE_NAMES and (name, table) not in self._tables_made
            ]
            for name in sorted({name for name, _ in wanted}):
                tables = [table for source, table in wanted if source == name]
                loads.commit_empty(name, tables)
                self._tables_made.update((name, table) for table in tables)
        except Exception as exc:  # noqa: BLE001  retried at the next check
            log.debug("could not create the selected event tables yet: %s", exc)

    def _loadable_sources(self) -> list[str] | None:
        """The sources whose events load now: the known ones but the paused, whose events wait
        in the inbox until resumed. None (every row, a removed source's included) for this data
        dir's own inbox while none is paused."""
        store = self._state()
        names = store.source_names()
        active = [name for name in names if not store.get_source(name).settings.paused]
        if not self.inbox.shared and len(active) == len(names):
            return None
        return active

    def _state(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(self.data_dir)
        return self._store


def _prune(inbox: InboxBackend) -> None:
    try:
        gone = inbox.prune()
    except Exception as exc:  # noqa: BLE001  pruning can wait for the next round
        log.warning("could not prune the webhook inbox: %s", exc)
        return
    if gone:
        log.info("pruned %d loaded inbox rows past the retention", gone)
