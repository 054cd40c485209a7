"""The sync scheduler's tick loop: start each source's due tables, one job at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from cio_warehouse.frequencies import due_tables, next_run_at, table_frequencies
from cio_warehouse.service.jobs import SyncJob, SyncJobs
from cio_warehouse.state import StateError, StateStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]

TICK_SECONDS = 5.0


class Scheduler:
    """Starts each source's due tables as one job per tick, until stopped.

    A hand-written loop rather than APScheduler: each tick reads every table's next run from its
    last run in the state store (frequencies.py), the one truth that survives a restart."""

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
                    log.warning("cannot schedule %r now (trying again next tick): %s", name, exc,
                                extra={"source": name})
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
        if not config.settings.scheduled:
            return {}
        last = self._store.last_runs(source)
        now = self._clock()
        return {
            table: max(now, next_run_at(last.get(table), interval, now))
            for table, interval in table_frequencies(config).items()
        }

    def _due(self, name: str, now: float) -> list[str]:
        source = self._store.get_source(name)
        if not source.settings.scheduled:
            return []
        # One job per source at a time: each job has its own client, and two at once would
        # spend twice the workspace's 10 requests/second. Due tables wait for the next tick.
        if self._jobs.running_tables(name):
            return []
        return due_tables(source, self._store.last_runs(name), now)

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
