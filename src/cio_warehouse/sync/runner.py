"""Sync a source's App API tables: the one entry for the CLI, scheduler and web app."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cio_warehouse import catalog
from cio_warehouse.sources import client_for, validate_tables
from cio_warehouse.state import SourceConfig, StateError, StateStore
from cio_warehouse.sync.full_refresh import TableOutcome, TableProgress, sync_tables
from cio_warehouse.sync.source_tables import prepare_source_tables
from cio_warehouse.warehouse import destination


def tables_to_sync(selected: Sequence[str], requested: Sequence[str] = ()) -> list[catalog.Table]:
    """The requested tables, else the source's selected tables read from the App API."""
    names = validate_tables(requested) if requested else tuple(selected)
    tables = [catalog.get(n) for n in names]
    webhook_only = [t.name for t in tables if not t.synced]
    if requested and webhook_only:
        raise StateError(
            f"{', '.join(webhook_only)} fill from the reporting webhook in realtime and cannot be "
            "synced; sync one of: "
            + ", ".join(t.name for t in catalog.SYNCED_TABLES)
            + "."
        )
    return [t for t in tables if t.synced]


def planned_tables(
    store: StateStore, source_name: str, requested: Sequence[str] = ()
) -> tuple[SourceConfig, list[catalog.Table]]:
    """The source and the tables a sync of it would run, or the StateError that refuses it:
    callers check this before they draw any progress."""
    source = store.get_source(source_name)
    tables = tables_to_sync(source.tables, requested)
    if not tables:
        raise StateError(
            f"Source {source_name!r} has no App API tables selected; pass --table or "
            "select tables for it."
        )
    return source, tables


def run_sync(
    store: StateStore,
    source_name: str,
    requested: Sequence[str] = (),
    *,
    on_start: Callable[[list[TableProgress]], None] | None = None,
) -> list[TableOutcome]:
    source, tables = planned_tables(store, source_name, requested)
    prepare_source_tables(store.data_dir, source)
    with client_for(source) as client:
        target = destination.of_source(source.destination)
        return sync_tables(store, source, tables, target, client, on_start=on_start)
