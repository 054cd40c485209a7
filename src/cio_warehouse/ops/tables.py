"""A source's tables: per-table status, run history, and "Sync now"."""

from __future__ import annotations

from dataclasses import dataclass

from cio_warehouse import catalog, frequencies
from cio_warehouse.ops.errors import OpsError, Refusal
from cio_warehouse.ops.ports import Job, Jobs, Schedule
from cio_warehouse.ops.sources import known_source
from cio_warehouse.state import RunRecord, StateError, StateStore
from cio_warehouse.sync.runner import tables_to_sync


@dataclass(frozen=True)
class TableRuns:
    """A table of the catalog for one source, and its last run and last successful one."""

    entry: catalog.Table
    selected: bool
    last_run: RunRecord | None
    last_success: RunRecord | None


def _succeeded(run: RunRecord | None) -> RunRecord | None:
    return run if run is not None and run.status == "succeeded" else None


def table_runs(store: StateStore, name: str) -> list[TableRuns]:
    """Every table of the catalog, in its order, with its last run and last successful one."""
    source = store.get_source(name)
    last = store.last_runs(name)
    return [
        TableRuns(
            entry, entry.name in source.tables, last.get(entry.name),
            _succeeded(last.get(entry.name)) or store.last_success(name, entry.name),
        )
        for entry in catalog.TABLES
    ]


@dataclass(frozen=True)
class TableStatus:
    name: str
    description: str
    sync_method: str
    selected: bool
    frequency_seconds: int | None
    running: bool
    next_run_at: float | None
    last_run: RunRecord | None
    last_success: RunRecord | None


def table_statuses(store: StateStore, jobs: Jobs, schedule: Schedule, name: str
                   ) -> list[TableStatus]:
    source = known_source(store, name)
    running = jobs.running_tables(name)
    next_runs = schedule.next_runs(name)
    statuses = []
    for table in table_runs(store, name):
        entry = table.entry
        synced = entry.synced
        statuses.append(
            TableStatus(
                name=entry.name,
                description=entry.description,
                sync_method=entry.sync_method.value,
                selected=table.selected,
                frequency_seconds=(
                    frequencies.table_frequency(source, entry.name) if synced else None
                ),
                running=entry.name in running,
                next_run_at=next_runs.get(entry.name),
                last_run=table.last_run,
                # A webhook table's rows come from events: a run of it says little past itself.
                last_success=table.last_success if synced else _succeeded(table.last_run),
            )
        )
    return statuses


def runs(store: StateStore, name: str, table: str | None, limit: int) -> list[RunRecord]:
    known_source(store, name)
    if table is not None and table not in catalog.BY_NAME:
        raise OpsError(f"Unknown table {table!r}; choose from: {', '.join(catalog.BY_NAME)}.",
                       "table")
    return store.runs(name, table, limit)


def sync_now(store: StateStore, schedule: Schedule, name: str, tables: list[str] | None
             ) -> Job:
    """Start a sync of the requested (else selected) API tables now, beside the schedule."""
    source = known_source(store, name)
    if source.settings.paused:
        raise OpsError(f"Source {name!r} is paused: resume it first, then sync.", "tables",
                       Refusal.CONFLICT)
    try:
        wanted = tables_to_sync(source.tables, tables or ())
    except StateError as exc:
        raise OpsError(str(exc), "tables") from None
    if not wanted:
        raise OpsError(f"Source {name!r} has no App API table selected: select one first.",
                       "tables")
    try:
        return schedule.trigger(name, [t.name for t in wanted])
    except StateError as exc:
        raise OpsError(str(exc), "tables", Refusal.CONFLICT) from None


def job(jobs: Jobs, job_id: int) -> Job:
    found = jobs.get(job_id)
    if found is None:
        raise OpsError(f"No job {job_id} (jobs are kept while the service runs).",
                       kind=Refusal.NOT_FOUND)
    return found
