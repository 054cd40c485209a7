"""The sync schedule, a hand-written tick loop rather than APScheduler: each tick reads every
table's next run from its last run in the state store, the one truth that survives a restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from cio_warehouse import catalog
from cio_warehouse.catalog import SyncMethod
from cio_warehouse.service.jobs import SyncJob, SyncJobs
from cio_warehouse.state import RunRecord, SourceConfig, StateError, StateStore
from cio_warehouse.state.store import DEFAULT_FREQUENCY_SECONDS

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# The choices the web app offers, shortest first.
FREQUENCIES: dict[str, int] = {
    "5 minutes": 5 * 60,
    "30 minutes": 30 * 60,
    "1 hour": 3600,
    "6 hours": 6 * 3600,
    "12 hours": 12 * 3600,
    "24 hours": 24 * 3600,
    "7 days": 7 * 86400,
    "30 days": 30 * 86400,
}
assert DEFAULT_FREQUENCY_SECONDS in FREQUENCIES.values()
TABLE_FREQUENCIES = "table_frequencies"  # the key of the per-table overrides in source.settings
TICK_SECONDS = 5.0


# -- frequencies -------------------------------------------------------------------------------


def validate_frequency(value: object) -> int:
    """The seconds of one of FREQUENCIES, given as seconds (int or digits) or as its label."""
    seconds: object = value
    if isinstance(value, str):
        text = value.strip()
        seconds = FREQUENCIES.get(text, int(text) if text.isdigit() else None)
    checked = _positive(seconds)
    if checked is not None and checked in FREQUENCIES.values():
        return checked
    raise StateError(
        f"Unsupported sync frequency {value!r}; choose one of: "
        + ", ".join(f"{label} ({seconds}s)" for label, seconds in FREQUENCIES.items())
        + "."
    )


def frequency_label(seconds: int) -> str:
    """'6 hours' for 21600; a value outside the choices reads as seconds."""
    for label, value in FREQUENCIES.items():
        if value == seconds:
            return label
    return f"{seconds} seconds"


def scheduled_tables(source: SourceConfig) -> list[str]:
    """The source's selected full-refresh tables: webhook tables fill in realtime, never here."""
    return [
        name
        for name in source.tables
        if name in catalog.BY_NAME and catalog.BY_NAME[name].sync_method is SyncMethod.FULL_REFRESH
    ]


def source_frequency(source: SourceConfig) -> int:
    """The source's frequency in seconds (the default if the stored value is unusable)."""
    return _positive(source.frequency_seconds) or DEFAULT_FREQUENCY_SECONDS


def table_overrides(source: SourceConfig) -> dict[str, int]:
    """The per-table frequencies set on the source: {table: seconds}."""
    raw = source.settings.get(TABLE_FREQUENCIES)
    if not isinstance(raw, dict):
        return {}
    # Settings are JSON the user may have edited: an unusable value means "no override".
    return {str(t): s for t, v in raw.items() if (s := _positive(v)) is not None}


def table_frequency(source: SourceConfig, table: str) -> int:
    """A table's own frequency if set, else its source's."""
    return table_overrides(source).get(table) or source_frequency(source)


def table_frequencies(source: SourceConfig) -> dict[str, int]:
    """The frequency of every scheduled table of the source."""
    return {t: table_frequency(source, t) for t in scheduled_tables(source)}


def with_source_frequency(source: SourceConfig, seconds: object) -> SourceConfig:
    return replace(source, frequency_seconds=validate_frequency(seconds))


def with_table_frequency(source: SourceConfig, table: str, seconds: object | None) -> SourceConfig:
    """The source with `table`'s own frequency set, or cleared (None: follow the source)."""
    entry = catalog.BY_NAME.get(table)
    if entry is None or entry.sync_method is not SyncMethod.FULL_REFRESH:
        raise StateError(
            f"{table!r} has no sync frequency: only these tables sync on a schedule: "
            + ", ".join(t.name for t in catalog.API_TABLES)
            + "."
        )
    overrides = table_overrides(source)
    if seconds is None:
        overrides.pop(table, None)
    else:
        overrides[table] = validate_frequency(seconds)
    return replace(source, settings={**source.settings, TABLE_FREQUENCIES: overrides})


def set_source_frequency(store: StateStore, name: str, seconds: object) -> SourceConfig:
    source = with_source_frequency(store.get_source(name), seconds)
    store.update_source(source)
    return source


def set_table_frequency(
    store: StateStore, name: str, table: str, seconds: object | None
) -> SourceConfig:
    source = with_table_frequency(store.get_source(name), table, seconds)
    store.update_source(source)
    return source


def next_run_at(last: RunRecord | None, interval: int, now: float) -> float:
    """When a table is next due: its last start (any status) plus its interval; never run: now."""
    return now if last is None else last.started_at + interval


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


# -- the scheduler -----------------------------------------------------------------------------


class Scheduler:
    """Starts each source's due tables as one job per tick, until stopped."""

    def __init__(
        self,
        store: StateStore,
        jobs: SyncJobs,
        *,
        clock: Clock = time.time,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self._store = store
        self._jobs = jobs
        # Compared with the store's run start times, which are time.time(): a test's clock must
        # read the same epoch.
        self._clock = clock
        self._tick_seconds = tick_seconds
        # Held while deciding and starting: two ticks, or a tick and "Sync now", then see each
        # other's job (running, or already recorded) instead of both starting one.
        self._lock = threading.Lock()
        self._stopped = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._watched: list[SyncJob] = []

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._stopped:
                raise StateError("The scheduler was stopped; a stopped scheduler starts nothing.")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """No new job after this returns; jobs already running finish on their own."""
        with self._lock:  # waits for a tick in progress to finish starting its jobs
            self._stopped = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopped:
            try:
                self.tick()
            except Exception:  # the loop outlives any one bad tick; the next one tries again
                log.exception("the sync scheduler's tick failed; trying again at the next tick")
            self._wake.wait(self._tick_seconds)

    def tick(self) -> list[SyncJob]:
        """Start one job per source with due tables; the jobs started."""
        started: list[SyncJob] = []
        with self._lock:
            if self._stopped:
                return started
            self._record_failed_jobs()
            now = self._clock()
            for name in self._store.source_names():
                try:
                    due = self._due(name, now)
                    if due:
                        job = self._start(name, due)
                        log.info("scheduled sync of %s: %s (job %d)", name, ", ".join(due), job.id)
                        started.append(job)
                except Exception as exc:  # one source's trouble delays no other source
                    log.warning("cannot schedule %r now (trying again next tick): %s", name, exc)
        return started

    def trigger(self, source: str, tables: Sequence[str] = ()) -> SyncJob:
        """The "Sync now" path: the requested (else selected) tables, de-duplicated like a tick.

        StateError if every one of them is running already.
        """
        with self._lock:
            if self._stopped:
                raise StateError("The service is stopping; start the sync again once it runs.")
            self._record_failed_jobs()
            return self._start(source, tables)

    def next_runs(self, source: str) -> dict[str, float]:
        """{table: when it next syncs (unix seconds)} for the source's scheduled tables."""
        config = self._store.get_source(source)
        last = self._store.last_runs(source)
        now = self._clock()
        return {
            table: max(now, next_run_at(last.get(table), interval, now))
            for table, interval in table_frequencies(config).items()
        }

    def _due(self, name: str, now: float) -> list[str]:
        source = self._store.get_source(name)
        # One job per source at a time: each job has its own client, and two at once would
        # spend twice the workspace's 10 requests/second. Due tables wait for the next tick.
        if self._jobs.running_tables(name):
            return []
        last = self._store.last_runs(name)
        return [
            table
            for table, interval in table_frequencies(source).items()
            if next_run_at(last.get(table), interval, now) <= now
            # Started outside this scheduler's jobs (the demo's own sync) and still running, or
            # hung past its interval: a second run beside it would break "one run at a time".
            and not (table in last and last[table].status == "running")
        ]

    def _start(self, source: str, tables: Sequence[str]) -> SyncJob:
        job = self._jobs.start(source, tables)
        self._watched.append(job)
        return job

    def _record_failed_jobs(self) -> None:
        """A job that failed before its tables' runs began (e.g. the source was unusable) leaves
        no run behind; record one per table so that the store shows the error and the table
        waits for its next slot instead of being retried at every tick."""
        for job in [j for j in self._watched if j.done]:
            self._watched.remove(job)
            if job.error is None or job.source not in self._store.source_names():
                continue
            last = self._store.last_runs(job.source)
            for table in job.tables:
                run = last.get(table)
                if run is None or run.started_at < job.started_at:
                    run_id = self._store.start_run(job.source, table)
                    self._store.finish_run(
                        run_id, status="failed", rows=None, pages=None, retries=None,
                        error=job.error,
                    )
