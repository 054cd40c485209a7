"""The event loader: drains the webhook inbox into each source's event tables with dlt."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import dlt
import duckdb
import pyarrow as pa
from dlt.common.data_types import TDataType
from dlt.common.destination import Destination
from dlt.common.schema.typing import (
    TColumnSchema,
    TLoaderMergeStrategy,
    TMergeDispositionDict,
    TTableFormat,
)
from dlt.destinations.exceptions import DestinationConnectionError, LoadClientNotConnected
from dlt.extract.resource import DltResource

from cio_warehouse import catalog
from cio_warehouse.service.priority import lower_current_thread_priority
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync import dlt_settings  # noqa: F401  (dlt's settings for this product)
from cio_warehouse.warehouse import destination as destinations
from cio_warehouse.warehouse.duckdb_file import holding_warehouse, open_warehouse
from cio_warehouse.warehouse.write_lock import write_lock
from cio_warehouse.webhooks import event_rows
from cio_warehouse.webhooks.event_rows import RowError
from cio_warehouse.webhooks.inbox import Claim, InboxBackend, InboxLocation

log = logging.getLogger(__name__)

# Up to this many events per load. A dlt load costs ~0.25 s of CPU however small (+~35 ms per
# table it touches) plus ~60-80 us per event (Arrow into DuckDB, 2 cores): while idle each event
# loads at once; a backlog drains in batches this big (~20% faster than 10,000; tens of MB).
DEFAULT_BATCH_SIZE = 20_000
# While idle, how often the inbox is asked for new events (event-to-queryable adds this at worst).
IDLE_POLL_SECONDS = 0.1
# Loaded inbox rows are kept 8 days (Customer.io retries for up to 7): forgetting them is cheap
# and rarely due.
PRUNE_EVERY_SECONDS = 600.0
# How often the selection is read for event tables that do not exist yet (a table is made once).
TABLES_CHECK_SECONDS = 10.0
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0

DEAD_LETTERS_TABLE = catalog.DEAD_LETTERS.name
_DEAD_SCHEMA = event_rows.arrow_schema(
    catalog.DEAD_LETTER_COLUMNS, catalog.DEAD_LETTERS.primary_key
)
_EVENT_TABLE_NAMES = frozenset(t.name for t in catalog.EVENT_TABLES)


class LoadError(Exception):
    """The warehouse did not take a batch; its events stay in the inbox for the next attempt."""


@dataclass(frozen=True)
class LoadStats:
    """What one drain committed to the warehouse (and then marked loaded in the inbox)."""

    events: int = 0  # event rows committed (a replayed event counts, and stays one row)
    dead_letters: int = 0  # rows committed to the dead-letter table, isolated events included
    isolated: int = 0  # events the warehouse refused, moved to the dead letters
    loads: int = 0  # dlt loads that committed
    failed_loads: int = 0  # dlt loads that failed (a split batch retries its halves)
    by_table: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    full: bool = False  # the batch was full: more is probably pending

    @property
    def idle(self) -> bool:
        return self.events == 0 and self.dead_letters == 0 and self.failed_loads == 0

    def __add__(self, other: LoadStats) -> LoadStats:
        by_table = dict(self.by_table)
        for table, n in other.by_table.items():
            by_table[table] = by_table.get(table, 0) + n
        return LoadStats(
            self.events + other.events,
            self.dead_letters + other.dead_letters,
            self.isolated + other.isolated,
            self.loads + other.loads,
            self.failed_loads + other.failed_loads,
            by_table,
            self.seconds + other.seconds,
            other.full,
        )


@dataclass(frozen=True)
class LoaderStatus:
    """For `status` and the web app: is the loader keeping up, and if not, why."""

    running: bool
    last_error: str | None  # the latest failure, cleared by the next successful drain
    last_error_at: float | None
    consecutive_failures: int
    retry_at: float | None  # unix time of the next attempt while backing off
    last_loaded_at: float | None  # unix time of the last committed load
    events_loaded: int  # since this loader started
    dead_letters_loaded: int
    backlog: Mapping[str, int]  # per source asked for: events stored but not yet in the warehouse


@dataclass(slots=True)
class _Item:
    """One row to load and the inbox rows it settles."""

    table: str
    key: str
    row: dict[str, Any]
    variants: frozenset[str] = frozenset()
    event_seqs: list[int] = field(default_factory=list)
    dead_letter_seqs: list[int] = field(default_factory=list)
    # For an event the warehouse refuses: the raw body and when it arrived.
    body: bytes = b""
    received_at: float = 0.0


@dataclass
class _Tally:
    events: int = 0
    dead_letters: int = 0
    isolated: int = 0
    loads: int = 0
    failed_loads: int = 0
    by_table: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        self.events += other.events
        self.dead_letters += other.dead_letters
        self.isolated += other.isolated
        self.loads += other.loads
        self.failed_loads += other.failed_loads
        for table, n in other.by_table.items():
            self.by_table[table] = self.by_table.get(table, 0) + n

    def committed(self, items: Sequence[_Item]) -> None:
        self.loads += 1
        for item in items:
            if item.table == DEAD_LETTERS_TABLE:
                self.dead_letters += 1
            else:
                self.events += 1
            self.by_table[item.table] = self.by_table.get(item.table, 0) + 1


class EventLoader:
    """Inbox -> warehouse, in the process that owns the warehouse (DuckDB: one writer process).

    Each source's events go to that source's destination; `destination` overrides it for all.
    `inbox` is the data dir's inbox.db when None; on a shared (PostgreSQL) inbox any number of
    loaders, here or on other machines, may drain it at once: each claims rows no other holds.
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
    ) -> None:
        dlt_settings.apply()  # before the first pipeline is made
        self.data_dir = data_dir
        self.inbox = inbox or InboxLocation(path=data_dir.inbox)
        self._store: StateStore | None = None  # the sources a loader of a shared inbox loads
        # The data dir's DuckDB file is held open by run_forever once a source loads into it.
        self._duckdb_file: Path | None = None
        self._keeper: duckdb.DuckDBPyConnection | None = None
        self.destination = destination
        self.batch_size = batch_size
        self.idle_poll = idle_poll
        self.backoff_max = backoff_max
        self._pipelines: dict[str, _SourcePipeline] = {}
        # Per thread: its inbox connection, and the claim of the drain it runs.
        self._local = threading.local()
        self._drain_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._running = False
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._failures = 0
        self._retry_at: float | None = None
        self._last_loaded_at: float | None = None
        self._events_loaded = 0
        self._dead_letters_loaded = 0
        self._tables_made: set[tuple[str, str]] = set()  # (source, table) known to exist
        self._next_tables_check = 0.0

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
        """
        sources = self._known_sources() if self.inbox.shared else None
        with self._drain_lock, self._inbox().claim(self.batch_size, sources) as claim:
            self._local.claim = claim
            try:
                if time.monotonic() >= self._next_tables_check:
                    self._next_tables_check = time.monotonic() + TABLES_CHECK_SECONDS
                    self._make_selected_tables()
                return self._drain_claimed(claim)
            finally:
                self._local.claim = None

    def _drain_claimed(self, claim: Claim) -> LoadStats:
        started = time.monotonic()
        events, dead = claim.events, claim.dead_letters
        tally = _Tally()
        groups: dict[str, dict[tuple[str, str], _Item]] = {}
        for ev in events:
            _add(groups.setdefault(ev.source, {}), _event_item(ev.seq, ev.event_id,
                                                               ev.received_at, ev.body))
        for dl in dead:
            _add(groups.setdefault(dl.source, {}), _dead_letter_item(
                f"inbox-{dl.seq}-{event_rows.timestamp_us(dl.received_at)}",
                dl.received_at, dl.reason, dl.body, origin="receiver",
                dead_letter_seqs=[dl.seq]))
        error: LoadError | None = None
        for source, items in groups.items():
            source_tally = _Tally()
            try:
                self._load_source(source, list(items.values()), source_tally)
            except LoadError as exc:
                error = error or exc
            tally.add(source_tally)
        stats = LoadStats(
            tally.events, tally.dead_letters, tally.isolated, tally.loads,
            tally.failed_loads, tally.by_table, time.monotonic() - started,
            full=len(events) >= self.batch_size or len(dead) >= self.batch_size,
        )
        self._record(stats, error)
        if error is not None:
            raise error
        return stats

    def drain(self) -> LoadStats:
        """drain_once until nothing is pending (tests, benchmarks, a one-shot CLI)."""
        total = LoadStats()
        self._keep_open()
        try:
            while True:
                stats = self.drain_once()
                total += stats
                if not stats.full:
                    return total
        finally:
            self._let_go()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Drain until stop_event is set: at once while there is work, else every idle_poll.

        A failure never ends the loop: it backs off (exponentially, capped) and tries again,
        while the inbox keeps every acknowledged event.
        """
        lower_current_thread_priority()  # loading yields the CPU to the webhook receiver
        with self._status_lock:
            self._running = True
        next_prune = 0.0
        try:
            while not stop_event.is_set():
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    self._prune()
                self._keep_open()
                try:
                    stats = self.drain_once()
                except Exception as exc:  # noqa: BLE001  the loop must outlive any failure
                    self._let_go()  # reopened next round, in case the file itself changed
                    if not isinstance(exc, LoadError):
                        self._record(LoadStats(), LoadError(_describe(exc)))
                    delay = self._backoff()
                    log.warning("event load failed, retrying in %.1f s: %s", delay,
                                self._last_error)
                    stop_event.wait(delay)
                    continue
                if stats.idle:
                    stop_event.wait(self.idle_poll)
        finally:
            with self._status_lock:
                self._running = False
                self._retry_at = None
            self._let_go()
            self.close()

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
        with self._status_lock:
            return LoaderStatus(
                self._running, self._last_error, self._last_error_at, self._failures,
                self._retry_at, self._last_loaded_at, self._events_loaded,
                self._dead_letters_loaded, backlog,
            )

    def close(self) -> None:
        """Close this thread's inbox connection."""
        inbox: InboxBackend | None = getattr(self._local, "inbox", None)
        if inbox is not None:
            inbox.close()
            self._local.inbox = None

    # -- loading -------------------------------------------------------------------------------

    def _load_source(self, source: str, items: list[_Item], tally: _Tally) -> None:
        """Commit a source's batch; an event the warehouse refuses must not block the others.

        After a failed load each table is loaded on its own, and a table that still fails is
        probed with single rows. If none of them loads, the fault is the table's (a column type
        the warehouse holds differently, a bug): its events stay in the inbox and LoadError
        reports it, retried after a backoff. If some do, the rest is split in halves until the
        rows that fail alone are found (a JSON the warehouse cannot parse, a string it cannot
        store): those, and only those, go to the dead letters with the error as the reason.
        """
        first = self._try_commit(source, items, tally)
        if first is None:
            return
        _raise_if_unreachable(first)
        by_table: dict[str, list[_Item]] = {}
        for item in items:
            by_table.setdefault(item.table, []).append(item)
        stuck: list[tuple[str, int, Exception]] = []
        for table, group in by_table.items():
            failure = self._try_commit(source, group, tally) if len(by_table) > 1 else first
            if failure is None:
                continue
            _raise_if_unreachable(failure)
            if table == DEAD_LETTERS_TABLE:  # text only: the warehouse itself is failing
                raise LoadError(f"dead letters did not load: {_describe(failure)}") from failure
            refused = self._isolate(source, group, tally, failure)
            if refused and not tally.by_table.get(table):
                stuck.append((table, len(refused), refused[0][1]))
                continue
            for item, _ in refused:
                self._move_to_dead_letters(source, item, tally)
        if stuck:
            table, n, failure = stuck[0]
            raise LoadError(
                f"{n} event(s) of {source}.{table} did not load and no other row of that table "
                f"did (kept in the inbox, retried later): {_describe(failure)}"
            ) from failure

    def _isolate(
        self, source: str, items: list[_Item], tally: _Tally, failure: Exception
    ) -> list[tuple[_Item, Exception]]:
        """The rows of one table that fail alone; the others are committed on the way."""
        if len(items) == 1:
            return [(items[0], failure)]
        # Probes: if not one row of the table loads, splitting further would only repeat the
        # table's fault once per row.
        probes = {0, len(items) // 2, len(items) - 1}
        refused: list[tuple[_Item, Exception]] = []
        for i in sorted(probes):
            probe_failure = self._try_commit(source, [items[i]], tally)
            if probe_failure is not None:
                _raise_if_unreachable(probe_failure)
                refused.append((items[i], probe_failure))
        if len(refused) == len(probes):
            return refused + [(item, failure) for i, item in enumerate(items) if i not in probes]
        rest = [item for i, item in enumerate(items) if i not in probes]
        self._split_until_loaded(source, rest, tally, refused)
        return refused

    def _split_until_loaded(
        self,
        source: str,
        items: list[_Item],
        tally: _Tally,
        refused: list[tuple[_Item, Exception]],
    ) -> None:
        if not items:
            return
        failure = self._try_commit(source, items, tally)
        if failure is None:
            return
        _raise_if_unreachable(failure)
        if len(items) == 1:
            refused.append((items[0], failure))
            return
        middle = len(items) // 2
        self._split_until_loaded(source, items[:middle], tally, refused)
        self._split_until_loaded(source, items[middle:], tally, refused)

    def _move_to_dead_letters(self, source: str, item: _Item, tally: _Tally) -> None:
        retry = self._try_commit(source, [item], tally)  # once more, in case it was passing
        if retry is None:
            return
        reason = f"the warehouse refused this event: {_describe(retry)}"
        log.warning("source %r: event %s moved to %s: %s", source, item.key,
                    DEAD_LETTERS_TABLE, reason)
        moved = _dead_letter_item(
            f"event-{item.key}", item.received_at, reason, item.body, origin="loader",
            event_id=item.key, event_seqs=item.event_seqs,
        )
        not_moved = self._try_commit(source, [moved], tally)
        if not_moved is not None:
            raise LoadError(_describe(not_moved)) from not_moved
        tally.isolated += 1

    def _try_commit(self, source: str, items: Sequence[_Item], tally: _Tally) -> Exception | None:
        """Load items, then mark their inbox rows loaded; the load's failure, if any.

        Marking happens only after the warehouse committed, and its own failure (the inbox, not
        the data) is raised, never taken for a poisonous event.
        """
        try:
            self._commit(source, items)
        except Exception as exc:  # noqa: BLE001  the caller classifies it
            tally.failed_loads += 1
            return exc
        tally.committed(items)
        self._claim().mark_loaded(
            [s for item in items for s in item.event_seqs],
            [s for item in items for s in item.dead_letter_seqs],
        )
        return None

    def _make_selected_tables(self) -> None:
        """Selected event tables exist, empty, before their first event: a workspace that sends
        no SMS still answers `select count(*) from sms_events` with 0, as its dashboards expect.

        Best effort: a warehouse that is down fails the event loads that follow, which report it.
        """
        try:
            if self._store is None:
                self._store = StateStore(self.data_dir)
            wanted = [
                (name, table)
                for name in self._store.source_names()
                for table in self._store.get_source(name).tables
                if table in _EVENT_TABLE_NAMES and (name, table) not in self._tables_made
            ]
            for name in sorted({name for name, _ in wanted}):
                tables = [table for source, table in wanted if source == name]
                self._commit(name, [], tables)
                self._tables_made.update((name, table) for table in tables)
        except Exception as exc:  # noqa: BLE001  retried at the next check
            log.debug("could not create the selected event tables yet: %s", exc)

    def _commit(self, source: str, items: Sequence[_Item], empty: Sequence[str] = ()) -> None:
        """Load items (and the tables named in `empty`, with no rows) in one dlt load."""
        by_table: dict[str, list[_Item]] = {table: [] for table in empty}
        for item in items:
            by_table.setdefault(item.table, []).append(item)
        loading = self._pipeline(source)
        resources = [loading.resource(table, group) for table, group in by_table.items()]
        pipeline = loading.pipeline
        # A package left by a failed attempt holds a batch that is being retried differently
        # (split, or grown with new events): never load it as well.
        if pipeline.has_pending_data:
            pipeline.abort_packages()
        pipeline.extract(resources)
        pipeline.normalize()
        # The other loaders of a shared inbox load into the same warehouse: one load at a time
        # per dataset (dlt's merge stages in <dataset>_staging, which two loads would share).
        # dlt opens the data dir's DuckDB by path: held, it meets the locked-down instance.
        held = holding_warehouse(self.data_dir) if loading.duckdb_file else nullcontext()
        with write_lock(loading.lock_key), held, self._claim().exclusive(
            f"{loading.lock_key}\0{source}"
        ):
            pipeline.load()

    def _pipeline(self, source: str) -> _SourcePipeline:
        loading = self._pipelines.get(source)
        if loading is None:
            table_format: TTableFormat | None = None
            if self.destination is not None:
                destination, key = self.destination, str(self.data_dir.warehouse)
                duckdb_file = destination.destination_type == "dlt.destinations.duckdb"
            else:
                target = self._target_of(source)
                destination = target.dlt_destination(self.data_dir)
                key, table_format = target.key(self.data_dir), target.table_format
                duckdb_file = target.is_default
            if duckdb_file:
                self._duckdb_file = self.data_dir.warehouse
            pipeline = dlt.pipeline(
                # One pipeline per source for all its event tables: one load per micro-batch.
                pipeline_name=f"{source}__event_loader",
                destination=destination,
                dataset_name=source,
                pipelines_dir=str(self.data_dir.pipelines),
            )
            loading = _SourcePipeline(
                pipeline, key, merge_strategy(destination), table_format, duckdb_file
            )
            self._pipelines[source] = loading
        return loading

    def _target_of(self, source: str) -> destinations.Target:
        store = StateStore(self.data_dir)  # a damaged state raises: the loop backs off, says why
        if source not in store.source_names():
            # Removed meanwhile: its inbox rows go with it; DuckDB is harmless.
            return destinations.parse(None)
        return destinations.of_source(store.get_source(source).destination)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _inbox(self) -> InboxBackend:
        inbox: InboxBackend | None = getattr(self._local, "inbox", None)
        if inbox is None:
            inbox = self.inbox.open()
            self._local.inbox = inbox
        return inbox

    def _known_sources(self) -> list[str]:
        if self._store is None:
            self._store = StateStore(self.data_dir)
        return self._store.source_names()

    def _claim(self) -> Claim:
        claim: Claim | None = getattr(self._local, "claim", None)
        assert claim is not None, "loads happen inside drain_once's claim"
        return claim

    def _keep_open(self) -> None:
        """Hold the DuckDB file open while a loop (run_forever, drain) runs.

        dlt opens the database for each load and closes it after, and the last close of a DuckDB
        database checkpoints it: held open, a one-event load takes ~0.2 s instead of ~0.4 s here
        (DuckDB still checkpoints by itself once its WAL passes `checkpoint_threshold`). Opened
        locked down (duckdb_file.py), like the service's: they and dlt share this instance.
        """
        if self._duckdb_file is None or self._keeper is not None:
            return
        try:
            self._keeper = open_warehouse(self.data_dir)
        except duckdb.Error as exc:  # the load that follows reports it
            log.debug("could not hold the warehouse open: %s", exc)

    def _let_go(self) -> None:
        if self._keeper is not None:
            try:
                self._keeper.close()
            except duckdb.Error as exc:
                log.debug("closing the warehouse: %s", exc)
            self._keeper = None

    def _prune(self) -> None:
        try:
            gone = self._inbox().prune()
        except Exception as exc:  # noqa: BLE001  pruning can wait for the next round
            log.warning("could not prune the webhook inbox: %s", exc)
            return
        if gone:
            log.info("pruned %d loaded inbox rows past the retention", gone)

    def _record(self, stats: LoadStats, error: LoadError | None) -> None:
        with self._status_lock:
            self._events_loaded += stats.events
            self._dead_letters_loaded += stats.dead_letters
            if stats.loads:
                self._last_loaded_at = time.time()
            if error is None:
                self._last_error = None
                self._failures = 0
                self._retry_at = None
            else:
                self._last_error = str(error)
                self._last_error_at = time.time()
                self._failures += 1

    def _backoff(self) -> float:
        with self._status_lock:
            exponent = max(0, self._failures - 1)
            delay = min(self.backoff_max, BACKOFF_FIRST_SECONDS * 2.0**exponent)
            self._retry_at = time.time() + delay
            return delay


@dataclass(frozen=True)
class _SourcePipeline:
    """A source's loader pipeline and how its destination takes a batch."""

    pipeline: dlt.Pipeline
    lock_key: str
    strategy: TLoaderMergeStrategy
    table_format: TTableFormat | None
    duckdb_file: bool  # loads into the data dir's DuckDB

    def resource(self, table: str, items: Sequence[_Item]) -> DltResource:
        rows = [item.row for item in items]
        if table == DEAD_LETTERS_TABLE:
            data = event_rows.to_arrow(rows, _DEAD_SCHEMA)
            return _dlt_resource(table, data, catalog.DEAD_LETTERS.primary_key,
                                 catalog.DEAD_LETTER_COLUMNS, self.strategy, self.table_format)
        variants = sorted({v for item in items for v in item.variants})
        data = event_rows.to_arrow(rows, event_rows.EVENT_SCHEMA, variants)
        return _dlt_resource(table, data, "event_id", catalog.EVENT_COLUMNS, self.strategy,
                             self.table_format)


def merge_strategy(destination: Destination) -> TLoaderMergeStrategy:  # type: ignore[type-arg]
    """How a batch meets the rows already loaded, deduplicating on the primary key.

    delete-insert (dlt's default merge: delete the staged keys from the table, insert the staged
    rows deduplicated by key, in one transaction) runs on every SQL destination dlt has; upsert
    (a MERGE) covers the file-based table formats (Delta, Iceberg) that lack delete-insert.
    """
    supported = destination.capabilities().supported_merge_strategies
    strategy: TLoaderMergeStrategy
    for strategy in ("delete-insert", "upsert"):
        if strategy in supported:
            return strategy
    return "delete-insert"


def _dlt_resource(
    table: str,
    data: pa.Table,
    primary_key: str,
    columns: Sequence[catalog.Column],
    strategy: TLoaderMergeStrategy,
    table_format: TTableFormat | None,
) -> DltResource:
    # Arrow carries every type but JSON (a string there): only those columns need a hint. Fewer
    # hints is faster too: dlt validates and serializes every hint on every extract.
    hints: dict[str, TColumnSchema] = {
        c.name: {"data_type": cast(TDataType, c.data_type)}
        for c in columns
        if c.data_type == "json"
    }
    disposition: TMergeDispositionDict = {"disposition": "merge", "strategy": strategy}
    resource: DltResource = dlt.resource(
        data,
        name=table,
        write_disposition=disposition,
        primary_key=primary_key,
        columns=hints,
        max_table_nesting=0,
    )
    if table_format is not None:
        resource.apply_hints(table_format=table_format)
    return resource


def _add(group: dict[tuple[str, str], _Item], item: _Item) -> None:
    """Deduplicate within the batch: a second row with the same key only settles its inbox row."""
    existing = group.get((item.table, item.key))
    if existing is None:
        group[(item.table, item.key)] = item
    else:
        existing.event_seqs.extend(item.event_seqs)
        existing.dead_letter_seqs.extend(item.dead_letter_seqs)


def _event_item(seq: int, event_id: str, received_at: float, body: bytes) -> _Item:
    try:
        row = event_rows.event_row(body, event_id=event_id, received_at=received_at)
    except RowError as exc:
        return _dead_letter_item(
            f"event-{event_id}", received_at, str(exc), body, origin="loader",
            event_id=event_id, event_seqs=[seq],
        )
    return _Item(row.table, event_id, row.values, row.variants, [seq], [], body, received_at)


def _dead_letter_item(
    key: str,
    received_at: float,
    reason: str,
    body: bytes,
    *,
    origin: str,
    event_id: str | None = None,
    event_seqs: Iterable[int] = (),
    dead_letter_seqs: Iterable[int] = (),
) -> _Item:
    row: dict[str, Any] = {
        "dead_letter_id": key,
        "received_at": event_rows.timestamp_us(received_at),
        "reason": _safe_text(reason.encode("utf-8", "surrogatepass")),
        "body": _safe_text(body),
        "event_id": event_id,
        "origin": origin,
    }
    return _Item(DEAD_LETTERS_TABLE, key, row, frozenset(), list(event_seqs),
                 list(dead_letter_seqs), body, received_at)


def _safe_text(raw: bytes) -> str:
    """Text any warehouse stores: bytes that are not UTF-8 (and NUL) become backslash escapes."""
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _raise_if_unreachable(exc: Exception) -> None:
    if _unreachable(exc):
        raise LoadError(_describe(exc)) from exc


def _unreachable(exc: BaseException) -> bool:
    """The warehouse could not be reached at all: no point in splitting the batch."""
    for cause in _chain(exc):
        if isinstance(cause, DestinationConnectionError | LoadClientNotConnected | ConnectionError
                      | TimeoutError):
            return True
        if type(cause).__name__ == "IOException":  # duckdb: file locked or not writable
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "exception", None)
    return chain


def _describe(exc: BaseException) -> str:
    """The root cause in one line; dlt's step errors name only the step on their first line."""
    root = _chain(exc)[-1]
    text = " ".join(str(root).split()) or type(root).__name__
    return f"{type(root).__name__}: {text}"[:2000]
