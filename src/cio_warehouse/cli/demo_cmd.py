"""`cio-warehouse demo`: the whole flow against the bundled sandbox, from link to first query."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.live import Live

from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, print_rows, rich_table
from cio_warehouse.cli.sync_cmds import ProgressView, print_outcomes
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.sources import link_source
from cio_warehouse.sync import TableProgress
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse.query import run_query

DEMO_SOURCE = "demo"
SAMPLE_QUERY = (
    "select name, state, active, created from demo.campaigns order by created desc limit 5"
)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the generated workspace.")] = 1,
) -> None:
    """Start the Customer.io sandbox, link it as source `demo`, sync every table, query it."""
    context = cli_context(ctx)
    store = context.store
    key = Secret(secrets.token_urlsafe(24))
    with SandboxServer(Workspace.preset("small", seed), api_key=key.reveal()) as sandbox:
        console.print(f"Sandbox Customer.io workspace listening on {sandbox.url}")
        if DEMO_SOURCE in store.source_names():
            store.remove_source(DEMO_SOURCE)  # the previous demo's sandbox is gone
        link_source(
            store, DEMO_SOURCE, region="us", app_api_key=key, api_base_url=sandbox.url
        )
        console.print(f"Linked it as source [bold]{DEMO_SOURCE}[/]; syncing every table:")
        view = ProgressView()

        def show(progress: list[TableProgress]) -> None:
            view.progress = progress

        with Live(view, console=console, refresh_per_second=4):
            outcomes = run_sync(store, DEMO_SOURCE, on_start=show)
    print_outcomes(outcomes)
    console.print(
        rich_table(
            "Rows per table",
            ["table", "rows", "status"],
            [(f"{DEMO_SOURCE}.{o.table}", o.rows, o.status) for o in outcomes],
        )
    )
    console.print(f"\nSample query: [bold]{SAMPLE_QUERY}[/]")
    result = run_query(context.data_dir, SAMPLE_QUERY)
    print_rows(result.columns, result.rows, "table")
    console.print(
        "\nQuery further with [bold]cio-warehouse query \"select * from demo.newsletters\"[/] "
        "(add --format csv or json), or open "
        f"{context.data_dir.warehouse} with any DuckDB client."
    )
    if any(o.error for o in outcomes):
        raise typer.Exit(1)
