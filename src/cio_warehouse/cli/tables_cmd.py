"""`cio-warehouse tables NAME`: the catalog's tables for a source, with the facts the web app's
source page shows (rows, last success or last event), fitted to the terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from cio_warehouse import catalog
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, when
from cio_warehouse.cli.query_cmd import read
from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.ops.tables import TableRuns, table_runs
from cio_warehouse.state import DataDir, SourceConfig, StateError
from cio_warehouse.warehouse.query import QueryError

_METHOD = {catalog.SyncMethod.FULL_REFRESH: "full refresh",
           catalog.SyncMethod.INCREMENTAL: "incremental", catalog.SyncMethod.WEBHOOK: "webhook"}


def tables(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The source.")]) -> None:
    """The catalog's tables for a source: selected?, how each fills, status, rows, last data."""
    context = cli_context(ctx)
    store = context.existing_store
    source = store.get_source(name)
    found = table_runs(store, name)
    counted = _warehouse_facts(context.data_dir, name, found)
    # No borders, the description cut to what is left: the other columns keep their words whole
    # at 80 columns.
    table = RichTable(title=f"Tables of {name} (times UTC)", title_justify="left", box=None,
                      pad_edge=False, padding=(0, 1), header_style="bold")
    lines = []
    for row in sorted(found, key=lambda t: not t.selected):  # the selected first
        rows, last = _rows_and_last(row, counted.get(row.entry.name))
        lines.append((row.entry.name, _METHOD[row.entry.sync_method], _status(source, row),
                      rows, last, row.entry.description))
    headers = ("table", "fills by", "status", "rows", "last sync/event")
    widths = [max(len(column), *(len(line[i]) for line in lines))
              for i, column in enumerate(headers)]
    for column, width in zip(headers, widths, strict=True):
        table.add_column(column, justify="right" if column == "rows" else "left", no_wrap=True,
                         width=width)
    # Whatever the terminal leaves (2 spaces between columns), cut with an ellipsis; Rich would
    # otherwise narrow every column, the names too. Too little left: no description.
    left = console.width - sum(widths) - 2 * len(headers)
    if left >= 12:
        table.add_column("description", no_wrap=True, overflow="ellipsis", max_width=left)
    for line in lines:
        table.add_row(*line[:len(table.columns)])
    console.print(table)


def _status(source: SourceConfig, row: TableRuns) -> str:
    """As the source page says it (web/static/js/source.js), in at most 14 characters."""
    if not row.selected:
        return "not selected"
    if not row.entry.synced:
        live = source.signing_key is not None and source.settings.webhook_id is not None
        return "realtime" if live else "no webhook yet"
    return row.last_run.status if row.last_run is not None else "not synced yet"


def _rows_and_last(row: TableRuns, counted: tuple[int, float | None] | None) -> tuple[str, str]:
    success = row.last_success
    if not row.selected and success is None:
        return "-", "-"
    if row.entry.sync_method is catalog.SyncMethod.FULL_REFRESH:
        # A full refresh's last run holds the whole table.
        rows = success.rows if success is not None and success.rows is not None else (
            counted[0] if counted else None)
        return _count(rows), _when(success.ended_at if success else None)
    rows = counted[0] if counted else None
    if row.entry.synced:  # incremental: the table keeps what each window added
        return _count(rows), _when(success.ended_at if success else None)
    last_event = counted[1] if counted else None
    return _count(rows), _when(last_event) if last_event is not None else "no events yet"


def _warehouse_facts(data_dir: DataDir, name: str, found: list[TableRuns]
                     ) -> dict[str, tuple[int, float | None]]:
    """Rows and last event (received_at) of the selected tables that are not a full refresh, as
    the web app reads them; a table that is not there yet (no event so far) is left out."""
    facts = {}
    for row in found:
        if not row.selected or row.entry.sync_method is catalog.SyncMethod.FULL_REFRESH:
            continue
        event = row.entry.sync_method is catalog.SyncMethod.WEBHOOK
        last = "extract(epoch from max(received_at))" if event else "null"
        sql = f'select count(*), {last} from "{name}"."{row.entry.name}"'
        try:
            result = read(data_dir, sql, name)
        except (QueryError, StateError, CustomerIOError):
            continue  # not created yet, or the warehouse cannot be read now: shown as unknown
        count, at = result.rows[0]
        facts[row.entry.name] = (int(count), float(at) if at is not None else None)
    return facts


def _count(rows: int | None) -> str:
    return "-" if rows is None else f"{rows:,}"


def _when(epoch: float | None) -> str:
    return when(epoch, short=True)[:16] if epoch is not None else "-"  # to the minute
