"""Message history: /v1/messages read in windows of creation time and merged on `id`.

What it guarantees:
- A load holds whole windows (UTC days, cut at the sync's start), and the table's mark (the state
  store's `synced_until`) moves to the end of a load's last window only once that load committed.
  A failed or killed sync leaves the table as its last committed load left it; the next sync starts
  again from the mark, and the merge on `id` makes reading a window twice harmless.
- The first sync reaches `history_days` back; each later one starts `lookback_days` before the
  mark, because opens, clicks and conversions reach a delivery days after it was sent; one after
  a sync that stopped early starts at the mark itself.
- `history_days` raised later reaches back too: after the forward windows, the days between the
  new start and where the synced days begin (`synced_from`) are read newest first, and
  `synced_from` moves back a load at a time, so a killed backfill resumes where it stopped.
- Memory stays flat: pages stream into dlt's files, and a load closes after about LOAD_ROWS rows;
  the next pages are fetched while a load commits (sync/prefetch.py), a bounded number ahead.
- Every documented column exists from the first load, even one that only ever holds NULL: every
  page is an Arrow table of the catalog's columns (sync/message_rows.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import dlt
import pyarrow
from dlt.common.schema.typing import TColumnSchema, TTableFormat, TWriteDispositionDict
from dlt.extract.resource import DltResource

from cio_warehouse.catalog import Table
from cio_warehouse.customerio import AppAPIClient, RequestStats
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.state.source_settings import SourceSettings
from cio_warehouse.state.sync_marks import SyncMark
from cio_warehouse.sync import message_rows
from cio_warehouse.sync.prefetch import Prefetch, WindowEnd

# Rows per load: enough that a load's fixed cost (~0.5 s) is small beside its 100 requests at
# 10 rps, few enough that a killed sync redoes little.
LOAD_ROWS = 100_000
DAY = 86_400

Window = tuple[int, int]  # [start_ts, end_ts) in unix seconds


def day_windows(start: int, end: int) -> list[Window]:
    """[start, end) cut at UTC midnights: Customer.io serves at most 6 months a request, and a
    day is the unit the mark moves by."""
    windows: list[Window] = []
    at = start
    while at < end:
        midnight = datetime.fromtimestamp(at, UTC).replace(hour=0, minute=0, second=0)
        next_day = int((midnight + timedelta(days=1)).timestamp())
        windows.append((at, min(next_day, end)))
        at = next_day
    return windows


def first_window_start(mark: SyncMark, settings: SourceSettings, now: int) -> int:
    """Where this sync starts reading: history_days back the first time; where the last sync
    stopped if it stopped early; else lookback_days before the end of the last one."""
    if mark.synced_until is None:
        return now - settings.history_window_days * DAY
    if mark.stopped_early:
        return int(mark.synced_until)
    return int(min(mark.synced_until, now)) - settings.lookback_window_days * DAY


def backfill_windows(mark: SyncMark, settings: SourceSettings, now: int) -> list[Window]:
    """The days that history_days, raised since the first sync, adds: newest first."""
    if mark.synced_from is None:
        return []
    return day_windows(now - settings.history_window_days * DAY, int(mark.synced_from))[::-1]


def sync_history(
    store: StateStore,
    source: SourceConfig,
    table: Table,
    client: AppAPIClient,
    stats: RequestStats,
    load: Callable[[DltResource], None],
    table_format: TTableFormat | None = None,
    merge_strategy: str = "delete-insert",
) -> None:
    """Read every window from the mark (or history_days back) to now, a load at a time; then
    the older days a raised history_days adds."""
    now = int(time.time())
    mark = store.sync_mark(source.name, table.name)
    forward = day_windows(first_window_start(mark, source.settings, now), now)
    store.set_sync_mark(source.name, table.name, "target_until", now)

    def moved_forward(reached: list[WindowEnd]) -> None:
        store.set_sync_mark(source.name, table.name, "synced_until", reached[-1].end)
        # The first sync's start; or a lookback longer than the history reached before it.
        if mark.synced_from is None or forward[0][0] < mark.synced_from:
            store.set_sync_mark(source.name, table.name, "synced_from", forward[0][0])

    def moved_back(reached: list[WindowEnd]) -> None:
        store.set_sync_mark(source.name, table.name, "synced_from", reached[-1].start)

    resource = functools.partial(_resource, table, table_format=table_format,
                                 merge_strategy=merge_strategy)
    _read(client, table, stats, forward, load, resource, moved_forward)
    backfill = backfill_windows(store.sync_mark(source.name, table.name), source.settings, now)
    _read(client, table, stats, backfill, load, resource, moved_back)


def _read(
    client: AppAPIClient,
    table: Table,
    stats: RequestStats,
    windows: list[Window],
    load: Callable[[DltResource], None],
    resource: Callable[[Iterator[pyarrow.Table]], DltResource],
    committed: Callable[[list[WindowEnd]], None],
) -> None:
    """The windows' pages, a load at a time; `committed` with the windows each load finished."""
    if not windows:
        return
    feed = Prefetch(client, table, stats, windows)
    items = feed.items()
    finished = False

    def load_worth(reached: list[WindowEnd]) -> Iterator[pyarrow.Table]:
        """Pages until a load's worth ends with a window, each finished window in `reached`.
        (The table exists before: sync/source_tables.py.)"""
        nonlocal finished
        rows = 0
        for item in items:
            if isinstance(item, WindowEnd):
                reached.append(item)
                if rows >= LOAD_ROWS:
                    return
            else:
                rows += item.num_rows
                yield item
        finished = True

    try:
        while not finished:
            reached: list[WindowEnd] = []
            load(resource(load_worth(reached)))
            if reached:
                committed(reached)
    finally:
        feed.close()


def empty_messages() -> pyarrow.Table:
    return message_rows.SCHEMA.empty_table()


def _resource(
    table: Table,
    pages: Iterator[pyarrow.Table],
    *,
    table_format: TTableFormat | None,
    merge_strategy: str,
) -> DltResource:
    # Arrow carries every type but JSON (text there): only those columns need a hint.
    columns: dict[str, TColumnSchema] = {name: {"data_type": "json"} for name in table.json_fields}
    disposition = cast(
        TWriteDispositionDict, {"disposition": "merge", "strategy": merge_strategy}
    )
    resource: DltResource = dlt.resource(
        pages,
        name=table.name,
        write_disposition=disposition,
        primary_key=table.primary_key,
        columns=columns,
        max_table_nesting=0,
    )
    if table_format is not None:
        resource.apply_hints(table_format=table_format)
    return resource
