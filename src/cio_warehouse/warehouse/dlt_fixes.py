"""Three dlt 1.31 behaviours worked around, each a narrow patch of one dlt class.

Each has a test that fails when a dlt upgrade changes what it patches (tests/lakehouse for the
Delta poll, tests/contract for the empty PostgreSQL load, tests/unit/test_duckdb_file.py for the
locked DuckDB), so that it can be dropped or redone.
"""

from __future__ import annotations

from typing import Any

# How often dlt's loader looks for finished jobs while loading into Delta (see prompt_delta_loads).
DELTA_JOB_POLL_SECONDS = 0.05


def prompt_delta_loads() -> None:
    """Stop dlt idling a second in every load into Delta.

    dlt's loader sleeps on a semaphore that each job releases when it ends, waking every 1.0 s at
    the latest (Load._run_loop_sleep_duration, not a setting). A Delta table's first job (the
    Parquet file staged for the Delta commit) is finished when it is made, never runs and never
    releases it: each load idled a full second before its Delta commit started (dlt 1.31, measured:
    a one-event webhook load took 1.2 s, 0.25 s without the wait). Shorter polls only for the
    filesystem destination; every other destination's jobs do wake the loader. A dlt without the
    attribute keeps its own wait (tests/lakehouse checks that this one has it).
    """
    from dlt.load.load import Load

    original = Load.__init__
    if getattr(original, "_cio_prompt_delta", False):
        return

    def __init__(self: Load, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if (
            hasattr(self, "_run_loop_sleep_duration")
            and self.destination.destination_type == "dlt.destinations.filesystem"
        ):
            self._run_loop_sleep_duration = DELTA_JOB_POLL_SECONDS

    __init__._cio_prompt_delta = True  # type: ignore[attr-defined]
    Load.__init__ = __init__  # type: ignore[method-assign]


def copy_empty_parquet_into_postgres() -> None:
    """Let an empty table load into PostgreSQL.

    dlt copies Parquet into PostgreSQL through ADBC, which refuses a file without row groups
    ("Must pass schema, or at least one RecordBatch"): a table that Customer.io lists empty
    failed to load instead of being created or emptied. Such a file has nothing to copy, so the
    copy job ends at once; the replace that follows empties or creates the table as usual.
    """
    import pyarrow.parquet as pq
    from dlt.destinations.impl.postgres.postgres import PostgresParquetCopyJob

    original = PostgresParquetCopyJob.run
    if getattr(original, "_cio_empty_parquet", False):
        return

    def run(self: PostgresParquetCopyJob) -> None:
        if pq.ParquetFile(self._file_path).metadata.num_rows == 0:
            return
        original(self)

    run._cio_empty_parquet = True  # type: ignore[attr-defined]
    PostgresParquetCopyJob.run = run  # type: ignore[method-assign,assignment]


def settle_locked_duckdb() -> None:
    """Let dlt load into a DuckDB instance whose configuration is locked (duckdb_file.py).

    dlt's DuckDB client SETs global settings and a pragma on every connection it opens, which a
    locked instance refuses ("the configuration has been locked"): every load failed. The
    instance got those settings before it was locked (duckdb_file.DLT_GLOBAL_SETTINGS), so on a
    locked instance dlt's global settings and pragmas are skipped; its session settings
    (search_path), which a lock allows, still run.
    """
    from dlt.destinations.impl.duckdb.configuration import DuckDbConnectionPool

    from cio_warehouse.warehouse.duckdb_file import is_locked

    original_config = DuckDbConnectionPool._apply_config
    if getattr(original_config, "_cio_locked", False):
        return
    original_local = DuckDbConnectionPool._apply_local_config

    def _apply_config(conn: Any, scope: str, config: dict[str, Any]) -> None:
        if scope == "GLOBAL" and config and is_locked(conn):
            return
        original_config(conn, scope, config)  # type: ignore[arg-type]

    def _apply_local_config(
        self: DuckDbConnectionPool, conn: Any, local_config: Any = None, pragmas: Any = None
    ) -> None:
        if pragmas and is_locked(conn):
            pragmas = None
        original_local(self, conn, local_config, pragmas)

    _apply_config._cio_locked = True  # type: ignore[attr-defined]
    DuckDbConnectionPool._apply_config = staticmethod(_apply_config)  # type: ignore[method-assign]
    DuckDbConnectionPool._apply_local_config = _apply_local_config  # type: ignore[method-assign]


def apply() -> None:
    """Idempotent; configure.configure() applies them before any pipeline is made."""
    prompt_delta_loads()
    copy_empty_parquet_into_postgres()
    settle_locked_duckdb()
