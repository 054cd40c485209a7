"""The service's heavy threads yield the CPU to the webhook receiver.

Why: `cio-warehouse serve` runs the webhook receiver in a process of its own beside this one, whose
sync jobs, event loader and API queries can each keep a core busy for minutes, often on a machine
with two cores. Customer.io gives each delivery 4 seconds and holds every later delivery behind
one that failed, whereas a sync or a query that ends a little later costs nobody anything. So the
receiver keeps the normal priority, and each thread that does heavy work here raises its own
niceness: whenever both want a CPU the kernel's scheduler runs the receiver first, and the heavy
work still gets every cycle the receiver leaves idle.

Among the heavy work, queries come last: a query that holds both cores for seconds (the SQL box
runs whatever a user writes) would otherwise take two shares of the CPU to the loader's one, and
every event waits for the loader to become queryable. So the threads that run queries lower
themselves further, and DuckDB's worker threads, which run the parallel part of every query on
the instance (and of its loads: a load runs mostly in the loader's own thread), are started at
the queries' niceness too.

No privilege is needed, since anyone may lower their own priority. Raising it back would need one
(CAP_SYS_NICE), so only threads that do nothing but heavy work call this: a thread pool's workers,
the loader's thread, the threads that run warehouse queries. On Linux niceness belongs to a thread
(setpriority with PRIO_PROCESS and a thread id changes that thread alone), and threads it starts
later inherit it: a sync's own workers, dlt's, and DuckDB's, which DuckDB starts in the thread
that first opens the warehouse. Elsewhere PRIO_PROCESS would mean the whole process, so this does
nothing there.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import duckdb

from cio_warehouse.service.api import Warehouse
from cio_warehouse.state import StateStore
from cio_warehouse.warehouse.destination import of_source
from cio_warehouse.warehouse.readers import SqlCursor

log = logging.getLogger(__name__)

# The scheduler's weight of nice 10 is 110, against 1024 at nice 0: when the receiver and a heavy
# thread compete for one CPU, the receiver gets about 90% of it.
HEAVY_WORK_NICENESS = 10
# Nice 15 weighs 36: the loader's thread gets 60% of a CPU against a query on both cores (two
# threads), where at nice 10 it got a third.
QUERY_NICENESS = 15


def lower_current_thread_priority(niceness: int = HEAVY_WORK_NICENESS) -> None:
    """Give the calling thread (and the threads it starts from now on) this niceness, unless it
    already has as much or more; Linux only, a no-op elsewhere, never an error."""
    if not sys.platform.startswith("linux"):
        return
    thread_id = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread_id) < niceness:
            os.setpriority(os.PRIO_PROCESS, thread_id, niceness)
    except OSError as exc:  # e.g. a seccomp profile that forbids it: run at the normal priority
        log.debug("could not lower the priority of thread %d: %s", thread_id, exc)


class LowPriorityWarehouse(Warehouse):
    """The service's warehouse: a thread that takes a cursor is about to run a query on it (the
    API's worker threads), so it yields to the receiver and the loader first."""

    def cursor(self, source: str | None = None) -> SqlCursor:
        lower_current_thread_priority(QUERY_NICENESS)
        return super().cursor(source)

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """The instance, opened at first from a thread at the queries' niceness: DuckDB starts
        its worker threads in the thread that opens it, and they inherit its niceness."""
        if self._con is None:
            failed: list[BaseException] = []

            def open_low() -> None:
                lower_current_thread_priority(QUERY_NICENESS)
                try:
                    super(LowPriorityWarehouse, self).duckdb()
                except BaseException as exc:  # raised again in the caller's thread
                    failed.append(exc)

            opener = threading.Thread(target=open_low, name="warehouse-open")
            opener.start()
            opener.join()
            if failed:
                raise failed[0]
        return super().duckdb()

    def open_first(self, store: StateStore) -> None:
        """Open the data dir's DuckDB now, before the loader or a sync opens it at their own
        niceness, when some source loads into it (or none is linked yet, DuckDB being the
        default); an error is left for the query or load that needs the file to report."""
        names = store.source_names()
        if names and not self._data_dir.warehouse.exists() and not any(
            of_source(store.get_source(name).destination).is_default for name in names
        ):
            return
        try:
            self.duckdb()
        except duckdb.Error as exc:
            log.debug("could not open the warehouse at start: %s", exc)
