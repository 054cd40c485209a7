"""The process's one-time setup (dlt's settings and fixes, Arrow's allocator, log filters)."""

from __future__ import annotations

import threading

from cio_warehouse import log_filters

_lock = threading.Lock()
_done: set[str] = set()  # the parts applied so far: "logs", "loading"


def configure(*, loading: bool = True) -> None:
    """Set this process up; idempotent. Entry points call it first (the CLI's main, the receiver
    process, the benchmarks, the tests' session), before any pipeline is made.

    Importing a module changes nothing: what used to happen at import happens here, once.
    `loading=False` in a process that never loads into a warehouse (the webhook receiver): dlt and
    pyarrow then stay unimported, which keeps its start and its memory small.
    """
    with _lock:
        if "logs" not in _done:
            log_filters.install()
            _done.add("logs")
        if loading and "loading" not in _done:
            _configure_loading()
            _done.add("loading")


def _configure_loading() -> None:
    # Imported here: these import dlt and pyarrow, which a receiver never needs.
    import pyarrow

    from cio_warehouse.sync import dlt_settings
    from cio_warehouse.warehouse import dlt_fixes

    # Before the first pipeline is made; settings the user put in the environment win.
    dlt_settings.apply()
    dlt_fixes.apply()
    # The system allocator gives freed Arrow buffers back; jemalloc keeps them, and a large
    # table's normalize step would leave its peak behind for the rest of the process.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
