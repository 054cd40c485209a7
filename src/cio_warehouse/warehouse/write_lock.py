"""One writer at a time per warehouse within this process.

DuckDB allows concurrent writers inside one process only without catalog changes: dlt loads that
create or alter schemas and tables at once fail with "Catalog write-write conflict". Extraction and
normalization run in parallel; only dlt's load step takes this lock (the event loader's too, when
it makes tables or columns): an insert alone runs beside a held lock, which DuckDB allows.
"""

from __future__ import annotations

import threading

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def write_lock(destination_key: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(destination_key, threading.Lock())
