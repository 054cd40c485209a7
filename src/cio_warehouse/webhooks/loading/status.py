"""What the event loader reports: each drain's stats, and whether it keeps up (for `status`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cio_warehouse.backoff import Backoff
from cio_warehouse.webhooks.loading.errors import LoadError

BACKOFF_FIRST_SECONDS = 0.5


@dataclass(frozen=True)
class LoadStats:
    """What one drain committed to the warehouse (and then marked loaded in the inbox)."""

    events: int = 0  # event rows committed (a replayed event counts, and stays one row)
    dead_letters: int = 0  # rows committed to the dead-letter table, isolated events included
    isolated: int = 0  # events the warehouse refused, moved to the dead letters
    loads: int = 0  # loads (a transaction each, or a dlt load) that committed
    failed_loads: int = 0  # loads that failed (a split batch retries its halves)
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


class StatusBoard:
    """The loader's running totals and failures, written by its loop and read by any thread."""

    def __init__(self, backoff_max: float) -> None:
        self._backoff = Backoff(BACKOFF_FIRST_SECONDS, backoff_max)
        self._lock = threading.Lock()
        self._running = False
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._failures = 0
        self._retry_at: float | None = None
        self._last_loaded_at: float | None = None
        self._events_loaded = 0
        self._dead_letters_loaded = 0

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self._last_error

    def running(self, running: bool) -> None:
        with self._lock:
            self._running = running
            if not running:
                self._retry_at = None

    def record(self, stats: LoadStats, error: LoadError | None) -> None:
        """A drain's outcome: what it committed, and its failure (None: it succeeded)."""
        with self._lock:
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

    def backoff(self) -> float:
        """The wait before the next attempt after the failures in a row recorded so far."""
        with self._lock:
            delay = self._backoff.after(self._failures)
            self._retry_at = time.time() + delay
            return delay

    def status(self, backlog: Mapping[str, int]) -> LoaderStatus:
        with self._lock:
            return LoaderStatus(
                self._running, self._last_error, self._last_error_at, self._failures,
                self._retry_at, self._last_loaded_at, self._events_loaded,
                self._dead_letters_loaded, backlog,
            )
