"""A sync run: every selected table is fetched page by page and loaded with dlt, one pipeline per
table, in parallel; a full-refresh table is swapped in atomically, message history merges its
windows (sync/history.py)."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import dlt

# Imported here, once: dlt imports pyarrow lazily, and several table threads doing that at the
# same moment see a half-initialised module.
import pyarrow
from dlt.common.schema.typing import TColumnSchema, TTableFormat
from dlt.extract.resource import DltResource

from cio_warehouse.catalog import Paging, SyncMethod, Table
from cio_warehouse.customerio import AppAPIClient, CustomerIOError, RequestStats
from cio_warehouse.exception_chain import chain, one_line
from cio_warehouse.log_format import in_log_context
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.sync.history import sync_history
from cio_warehouse.sync.rows import never_as_null
from cio_warehouse.warehouse.destination import Target, merge_strategy
from cio_warehouse.warehouse.duckdb_file import holding_warehouse
from cio_warehouse.warehouse.write_lock import write_lock

_normalize_lock = threading.Lock()


@dataclass
class TableProgress:
    """What a progress display shows for one table while its sync runs."""

    table: str
    stats: RequestStats = field(default_factory=RequestStats)
    phase: str = "queued"  # queued | fetching | normalizing | loading | succeeded | failed


@dataclass(frozen=True)
class TableOutcome:
    table: str
    status: str  # succeeded | failed
    rows: int
    pages: int
    retries: int
    seconds: float
    error: str | None = None


def table_resource(
    client: AppAPIClient,
    table: Table,
    progress: TableProgress,
    table_format: TTableFormat | None = None,
) -> DltResource:
    """One dlt resource per catalog row; the hints come from the catalog, never from the data."""
    columns: dict[str, TColumnSchema] = {
        f: {"data_type": "timestamp"} for f in table.timestamp_fields
    }
    columns |= {f: {"data_type": "json"} for f in table.json_fields}

    def pages() -> Iterator[list[dict[str, Any]] | pyarrow.Table]:
        found = False
        for page in client.iter_pages(table, progress.stats):
            # An empty page must not reach dlt: a replace that got only empty lists keeps the old
            # rows (dlt 1.31).
            if page:
                found = True
                yield never_as_null(page, table.timestamp_fields)
        if not found:
            # An empty list empties the table; and a workspace with none yet still gets the table
            # (dlt creates none from no rows), so that queries on it work and count 0.
            yield empty_table(table)

    resource: DltResource = dlt.resource(
        pages(),
        name=table.name,
        write_disposition="replace",
        primary_key=table.primary_key,
        columns=columns,
        # Nested values (lists, objects, fields Customer.io adds later) stay JSON columns in the
        # table itself, so a replace swaps exactly one table and queries need no joins.
        max_table_nesting=0,
    )
    if table_format is not None:  # delta on a lakehouse destination
        resource.apply_hints(table_format=table_format)
    return resource


def empty_table(table: Table) -> pyarrow.Table:
    """No rows, with the columns the catalog types: the key, timestamps (JSON ones come from the
    hints), and dlt's own two, so that the first rows later add columns to it, not NOT NULL ones."""
    types = {"bigint": pyarrow.int64(), "text": pyarrow.string()}
    fields = [
        pyarrow.field(table.primary_key, types[table.primary_key_type], nullable=False),
        *(pyarrow.field(f, pyarrow.timestamp("us", tz="UTC")) for f in table.timestamp_fields),
        pyarrow.field("_dlt_load_id", pyarrow.string(), nullable=False),
        pyarrow.field("_dlt_id", pyarrow.string(), nullable=False),
    ]
    return pyarrow.schema(fields).empty_table()


def sync_tables(
    store: StateStore,
    source: SourceConfig,
    tables: Sequence[Table],
    target: Target,
    client: AppAPIClient,
    *,
    max_workers: int = 4,
    on_start: Callable[[list[TableProgress]], None] | None = None,
) -> list[TableOutcome]:
    """Sync `tables` concurrently (sharing the client's rate limit); one failure stops no other."""
    # Cursor-paged tables first: they take most requests, the others fit beside them.
    tables = sorted(tables, key=lambda t: t.paging is not Paging.CURSOR)
    progress = [TableProgress(t.name) for t in tables]
    if on_start is not None:
        on_start(progress)
    workers = max(1, min(max_workers, len(tables)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
        futures = [
            # Each table's log lines (retries, dlt's warnings) name its source and table.
            pool.submit(in_log_context(_sync_one, source=source.name, table=table.name),
                        store, source, table, target, client, p)
            for table, p in zip(tables, progress, strict=True)
        ]
        return [f.result() for f in futures]


def _sync_one(
    store: StateStore,
    source: SourceConfig,
    table: Table,
    target: Target,
    client: AppAPIClient,
    progress: TableProgress,
) -> TableOutcome:
    run_id = store.start_run(source.name, table.name)
    started = time.monotonic()
    error: str | None = None
    try:
        pipeline = dlt.pipeline(
            # One pipeline per table: tables load in parallel and fail independently.
            pipeline_name=f"{source.name}__{table.name}",
            destination=target.dlt_destination(store.data_dir),
            dataset_name=source.name,
            pipelines_dir=str(store.data_dir.pipelines),
        )
        # A package left by a killed run holds rows of an old fetch: drop it without touching the
        # warehouse. (dlt's newer abort_packages() completes the package through a load, which
        # can run its replace step from a half-filled staging table: the kill -9 test caught it
        # emptying a table.)
        if pipeline.has_pending_data:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                pipeline.drop_pending_packages()

        def load(resource: DltResource) -> None:
            _load(pipeline, resource, store, target, progress)

        if table.sync_method is SyncMethod.INCREMENTAL:
            sync_history(
                store, source, table, client, progress.stats, load, target.table_format,
                merge_strategy(pipeline.destination),
            )
        else:
            load(table_resource(client, table, progress, target.table_format))
    except Exception as exc:  # noqa: BLE001  one table's failure is recorded, never raised
        error = describe_failure(exc)
    stats = progress.stats
    progress.phase = "failed" if error else "succeeded"
    outcome = TableOutcome(
        table=table.name,
        status=progress.phase,
        rows=stats.rows,
        pages=stats.pages,
        retries=stats.retries,
        seconds=time.monotonic() - started,
        error=error,
    )
    store.finish_run(
        run_id,
        status=outcome.status,
        rows=None if error else outcome.rows,
        pages=outcome.pages,
        retries=outcome.retries,
        error=error,
    )
    return outcome


def _load(
    pipeline: dlt.Pipeline,
    resource: DltResource,
    store: StateStore,
    target: Target,
    progress: TableProgress,
) -> None:
    """Extract (which fetches), normalize and load one resource: one dlt load."""
    progress.phase = "fetching"
    # Parquet: the warehouse copies it in streaming; insert_values SQL grows with the table.
    pipeline.extract(resource, loader_file_format="parquet")
    progress.phase = "normalizing"
    # One table normalizes at a time: it is CPU-bound (no gain from threads under the GIL)
    # and two large tables at once would double the peak memory.
    with _normalize_lock:
        pipeline.normalize()
    # dlt opens the data dir's DuckDB by path: held here, it meets the locked-down instance.
    with write_lock(target.key(store.data_dir)), (
        holding_warehouse(store.data_dir) if target.is_default else nullcontext()
    ):
        progress.phase = "loading"
        pipeline.load()


def describe_failure(exc: BaseException) -> str:
    """The sentence for the user: ours if a Customer.io error is in the chain, else the root cause.

    dlt wraps errors in step errors whose first line names only the step; the cause is deeper.
    """
    causes = chain(exc)
    ours = next((c for c in causes if isinstance(c, CustomerIOError)), None)
    text = str(ours) if ours is not None else one_line(causes[-1])
    return f"{text} The previous rows were kept."
