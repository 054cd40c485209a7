"""`cio-warehouse sync|tables|status`: run full refreshes and show what the warehouse holds."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.live import Live

from cio_warehouse import catalog
from cio_warehouse.cli import tables_cmd
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, rich_table, seconds, when
from cio_warehouse.cli.webhook_cmds import print_delivery_health, print_loader_state, print_missed
from cio_warehouse.ops.alerts import failing_channels
from cio_warehouse.service.discovery import find_running
from cio_warehouse.service.remote import RemoteService
from cio_warehouse.state import RunRecord
from cio_warehouse.sync import TableOutcome, TableProgress
from cio_warehouse.sync.runner import planned_tables, run_sync
from cio_warehouse.warehouse import destination
from cio_warehouse.webhooks.health import Level


class ProgressView:
    """A live table of rows, pages and retries per table, redrawn by Rich's refresh thread."""

    def __init__(self) -> None:
        self.progress: list[TableProgress] = []
        self.started = time.monotonic()
        self.elapsed: float | None = None  # set when done: the summary line says it, once

    def finish(self) -> float:
        self.elapsed = time.monotonic() - self.started
        return self.elapsed

    def __rich__(self) -> RenderableType:
        rows = [
            (p.table, p.phase, p.stats.rows, p.stats.pages, p.stats.retries) for p in self.progress
        ]
        table = rich_table(None, ["table", "phase", "rows", "pages", "retries"], rows)
        if self.elapsed is None:
            table.caption = f"elapsed {time.monotonic() - self.started:.1f}s"
        return table


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
    app.command("tables")(tables_cmd.tables)
    app.command("status")(status)


def sync(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source to sync.")],
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table", metavar="TABLE",
            help="Sync only this table (repeatable; default: the source's selected tables): "
            + ", ".join(t.name for t in catalog.SYNCED_TABLES) + ".",
        ),
    ] = None,
) -> None:
    """Full refresh of the source's App API tables; each is replaced whole or left as it was."""
    context = cli_context(ctx)
    planned_tables(context.store, name, table or ())  # refused before any progress is drawn
    view = ProgressView()

    def show(progress: list[TableProgress]) -> None:
        view.progress = progress

    service = find_running(context.data_dir)
    with Live(view, console=console, refresh_per_second=4, transient=False):
        if service is None:
            outcomes = run_sync(context.store, name, table or (), on_start=show)
        else:
            # The running service owns the warehouse file: it runs the sync, we watch.
            remote = RemoteService(service)
            try:
                outcomes = remote.sync(name, table or [], on_start=show)
            finally:
                remote.close()
        elapsed = view.finish()
    print_outcomes(outcomes, elapsed)
    if any(o.status != "succeeded" for o in outcomes):
        raise typer.Exit(1)


def print_outcomes(outcomes: list[TableOutcome], elapsed: float) -> None:
    """The summary under the progress table; `elapsed` is the sync's wall time, the one timing."""
    failed = [o for o in outcomes if o.error]
    ok = len(outcomes) - len(failed)
    console.print(
        f"{ok} of {len(outcomes)} tables synced, {sum(o.rows for o in outcomes if not o.error)} "
        f"rows in {elapsed:.1f}s."
    )
    for outcome in failed:
        console.print(f"[red]{outcome.table} failed:[/] {outcome.error}", highlight=False)


def status(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The source.")]
) -> None:
    """A source's health: per-table last run, duration and errors with what to do."""
    store = cli_context(ctx).existing_store
    source = store.get_source(name)
    last = store.last_runs(name)
    console.print(
        f"Source [bold]{name}[/]: region {source.region}"
        + (f", API {source.api_base_url}" if source.api_base_url else "")
        + f", {len(source.tables)} tables selected."
    )
    target = destination.of_source(source.destination)
    console.print(f"Destination: {target.display()}", highlight=False)
    if target.engine.caveat:
        console.print(f"  {target.engine.caveat}", highlight=False)
    if not target.engine.transactional_replace:
        console.print(
            f"  [yellow]{target.engine.label} has no transactional replace:[/] a full refresh "
            "may be seen half-done by readers while it swaps a table.",
            highlight=False,
        )
    rows = []
    for table_name in source.tables:
        entry = catalog.get(table_name)
        if not entry.synced:
            continue
        run = last.get(table_name)
        rows.append(
            (
                table_name,
                _status(run),
                when(run.started_at, short=True) if run else "-",
                seconds(run.duration) if run else "-",
                run.rows if run and run.rows is not None else "-",
                run.retries if run and run.retries is not None else "-",
            )
        )
    columns = ["table", "status", "started (UTC)", "took", "rows", "retries"]
    console.print(rich_table(None, columns, rows))
    webhook_failing = False
    if any(catalog.get(t).sync_method is catalog.SyncMethod.WEBHOOK for t in source.tables):
        level = print_delivery_health(cli_context(ctx).data_dir, source)
        webhook_failing = level is Level.ERROR
        print_loader_state(cli_context(ctx).data_dir, name)
        print_missed(cli_context(ctx).data_dir, name)
    failures = [r for r in last.values() if r.error]
    for run in failures:
        console.print(f"[red]{run.table}:[/] {run.error}", highlight=False)
    if not last:
        console.print(f"Never synced: run `cio-warehouse sync {name}`.")
    for channel in failing_channels(store):
        console.print(f"[red]{channel.sentence()}[/]", highlight=False)
    # For cron and monitors: a selected table whose last sync did not succeed, or a failing
    # webhook, is exit 3 (1 is a command that could not run, 2 a usage error).
    failed = [t for t in source.tables if (run := last.get(t)) and run.status in UNHEALTHY_RUNS]
    problems = ([f"{len(failed)} of the selected tables failed their last sync "
                 f"({', '.join(failed)})"] if failed else []) \
        + (["the webhook is failing"] if webhook_failing else [])
    if problems:
        console.print(f"[bold red]Unhealthy:[/] {'; '.join(problems)} (exit {EXIT_UNHEALTHY}).",
                      highlight=False)
        raise typer.Exit(EXIT_UNHEALTHY)


EXIT_UNHEALTHY = 3
# Last runs that leave a table's rows older than asked for.
UNHEALTHY_RUNS = ("failed", "interrupted")


def _status(run: RunRecord | None) -> str:
    return "never synced" if run is None else run.status
