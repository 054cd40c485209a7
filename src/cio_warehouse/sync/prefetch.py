"""Message history's pages fetched in a thread ahead of the loads, so that the 10 requests a
second keep going while a load commits (a backfill is paced by Customer.io, not by the warehouse).

The queue is bounded: at most DEPTH pages (Arrow, ~0.3 MB each) wait, so memory stays flat
whatever the history. Each window's end follows its last page, so the consumer knows where a
load may close. A failure in the thread is raised to the consumer; closing stops the thread.
A thread because httpx and the pacing are synchronous here, and DuckDB and PostgreSQL release
the GIL while they load.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow

from cio_warehouse.catalog import Table
from cio_warehouse.customerio import AppAPIClient, RequestStats
from cio_warehouse.sync import message_rows

DEPTH = 150  # a load's ~15 s of requests at 10 rps


@dataclass(frozen=True)
class WindowEnd:
    """Every page of the window [start, end) came before this."""

    start: int
    end: int


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()


class Prefetch:
    def __init__(
        self,
        client: AppAPIClient,
        table: Table,
        stats: RequestStats,
        windows: Iterable[tuple[int, int]],
    ) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fetch, args=(client, table, stats, list(windows)),
            name=f"prefetch-{table.name}", daemon=True,
        )
        self._thread.start()

    def items(self) -> Iterator[pyarrow.Table | WindowEnd]:
        """Pages and window ends in order, until the last window's end."""
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, pyarrow.Table | WindowEnd)
            yield item

    def close(self) -> None:
        """Stop fetching. A request in flight is not waited for (it may be riding out minutes
        of 429s): the thread ends after it, and puts nothing more."""
        self._stop.set()
        self._thread.join(timeout=1.0)

    def _fetch(
        self, client: AppAPIClient, table: Table, stats: RequestStats,
        windows: list[tuple[int, int]],
    ) -> None:
        try:
            for start, end in windows:
                params = {"start_ts": str(start), "end_ts": str(end)}
                for page in client.iter_pages(table, stats, params):
                    if self._stop.is_set():
                        return
                    if page:
                        self._put(message_rows.to_arrow(page, str(table.path)))
                self._put(WindowEnd(start, end))
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001  raised in the consumer's thread
            self._put(_Failed(exc))

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
