"""Sync jobs inside the service: run in threads, watched live, never two runs of one table."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cio_warehouse.log_format import log_context
from cio_warehouse.service.priority import lower_current_thread_priority
from cio_warehouse.state import StateError, StateStore
from cio_warehouse.sync import TableOutcome, TableProgress
from cio_warehouse.sync.runner import run_sync, tables_to_sync

log = logging.getLogger(__name__)


@dataclass
class SyncJob:
    id: int
    source: str
    tables: list[str]
    started_at: float = field(default_factory=time.time)
    progress: list[TableProgress] = field(default_factory=list)
    outcomes: list[TableOutcome] | None = None
    error: str | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "source": self.source,
            "tables": self.tables,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "progress": [
                {
                    "table": p.table,
                    "phase": p.phase,
                    "rows": p.stats.rows,
                    "pages": p.stats.pages,
                    "retries": p.stats.retries,
                }
                for p in self.progress
            ],
            "outcomes": None
            if self.outcomes is None
            else [
                {
                    "table": o.table,
                    "status": o.status,
                    "rows": o.rows,
                    "pages": o.pages,
                    "retries": o.retries,
                    "seconds": o.seconds,
                    "error": o.error,
                }
                for o in self.outcomes
            ],
        }


class SyncJobs:
    def __init__(self, store: StateStore, *, max_concurrent: int = 2, keep: int = 200) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="job")
        self._ids = itertools.count(1)
        self._jobs: dict[int, SyncJob] = {}
        self._running: set[tuple[str, str]] = set()  # (source, table)
        self._lock = threading.Lock()
        self._keep = keep

    def start(self, source: str, requested: Sequence[str] = ()) -> SyncJob:
        """Start a sync of the requested (else selected) tables that are not running already."""
        selected = self._store.get_source(source).tables
        tables = [t.name for t in tables_to_sync(selected, requested)]
        with self._lock:
            busy = [t for t in tables if (source, t) in self._running]
            tables = [t for t in tables if t not in busy]
            if not tables:
                raise StateError(
                    f"Already syncing {', '.join(busy)} of {source!r}; wait for it to finish."
                )
            job = SyncJob(next(self._ids), source, tables)
            self._running.update((source, t) for t in tables)
            self._jobs[job.id] = job
            for old in sorted(self._jobs)[: max(0, len(self._jobs) - self._keep)]:
                if self._jobs[old].done:
                    del self._jobs[old]
        self._pool.submit(self._run, job)
        return job

    def _run(self, job: SyncJob) -> None:
        def show(progress: list[TableProgress]) -> None:
            job.progress = progress

        lower_current_thread_priority()  # a sync yields the CPU to the webhook receiver
        try:
            with log_context(source=job.source):
                job.outcomes = run_sync(self._store, job.source, job.tables, on_start=show)
        except Exception as exc:  # noqa: BLE001  recorded on the job, shown to whoever watches
            job.error = str(exc)
            log.warning("sync of %s failed: %s", job.source, job.error,
                        extra={"source": job.source})
        finally:
            job.finished_at = time.time()
            with self._lock:
                self._running.difference_update((job.source, t) for t in job.tables)
        # In the service's log too: its operators may watch that rather than the run history.
        for outcome in job.outcomes or ():
            if outcome.error is not None:
                log.warning("sync of %s.%s failed: %s", job.source, outcome.table, outcome.error,
                            extra={"source": job.source, "table": outcome.table})

    def get(self, job_id: int) -> SyncJob | None:
        return self._jobs.get(job_id)

    def active(self, source: str) -> list[SyncJob]:
        """The source's jobs that have not finished, oldest first."""
        with self._lock:
            return [j for _, j in sorted(self._jobs.items()) if j.source == source and not j.done]

    def busy(self) -> bool:
        with self._lock:
            return bool(self._running)

    def running_tables(self, source: str) -> set[str]:
        with self._lock:
            return {t for s, t in self._running if s == source}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
