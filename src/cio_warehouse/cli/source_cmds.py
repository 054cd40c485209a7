"""`cio-warehouse source add|list|remove`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cio_warehouse import catalog, webhook_links
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, err_console, rich_table, when
from cio_warehouse.secret import Secret, mask_url, url_holds_secret
from cio_warehouse.sources import link_source, validate_history, validate_name
from cio_warehouse.state import StateError
from cio_warehouse.state.source_settings import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.admin import drop_dataset

ENV_APP_API_KEY = "CIO_APP_API_KEY"
ENV_DESTINATION_PASSWORD = "CIO_WAREHOUSE_DESTINATION_PASSWORD"  # noqa: S105  (a variable name)

app = typer.Typer(no_args_is_help=True)


def read_app_api_key(flag: str | None) -> Secret:
    """--app-api-key, else $CIO_APP_API_KEY, else a hidden prompt (the key never echoes), else,
    when stdin is not a terminal, its first line (as `webhook signing-key` reads its key)."""
    raw = flag or os.environ.get(ENV_APP_API_KEY)
    if not raw:
        raw = (typer.prompt("App API key", hide_input=True) if sys.stdin.isatty()
               else sys.stdin.readline())
    if not raw.strip():
        raise StateError(
            f"No App API key given: pipe it on stdin, set ${ENV_APP_API_KEY}, or run in a "
            "terminal to be prompted."
        )
    return Secret(raw)


def read_destination(flag: str | None) -> destination.Target:
    """--destination, else $CIO_WAREHOUSE_DESTINATION, else duckdb. A URL with a user and no
    password takes $CIO_WAREHOUSE_DESTINATION_PASSWORD, else a hidden prompt, as the App API key
    does (and a password on the command line is warned about)."""
    if flag and url_holds_secret(flag):
        err_console.print(
            "[yellow]Warning:[/] --destination holds a password, and other users of this machine "
            f"can read the command line: set ${destination.ENV_DESTINATION} instead, or leave the "
            "password out of the URL and enter it when asked (or set "
            f"${ENV_DESTINATION_PASSWORD}).",
            highlight=False, soft_wrap=True,
        )
    target = destination.for_new_source(flag)  # a wrong URL fails before anything is asked
    if target.url is None or not destination.asks_password(target.url.reveal()):
        return target
    raw = os.environ.get(ENV_DESTINATION_PASSWORD)
    if not raw and os.isatty(0):
        raw = typer.prompt(
            f"Password for {mask_url(target.url.reveal())} (Enter: none, e.g. ~/.pgpass)",
            hide_input=True, default="", show_default=False,
        )
    if not raw or not raw.strip():
        return target  # the engine's own ways: ~/.pgpass, PGPASSWORD, trust
    return destination.parse(destination.with_password(target.url.reveal(), Secret(raw)))


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Source name; becomes the SQL schema (e.g. acme).")],
    region: Annotated[str, typer.Option(help="Workspace region: us or eu.")] = "us",
    app_api_key: Annotated[
        str | None,
        typer.Option(
            help=f"App API key. Prefer ${ENV_APP_API_KEY}, a pipe to stdin or the prompt: argv "
            "is visible to other users of the machine.",
            show_default=False,
        ),
    ] = None,
    api_base_url: Annotated[
        str | None,
        typer.Option(help="Replace https://api.customer.io (sandbox, proxies, tests)."),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table", metavar="TABLE",
            help="Select a table (repeatable; default: all but messages, the history): "
            + ", ".join(catalog.BY_NAME) + ".",
        ),
    ] = None,
    history_days: Annotated[
        int | None,
        typer.Option(
            help="How far back the first sync of messages reaches, in days (default: "
            f"{DEFAULT_HISTORY_DAYS}).",
            show_default=False,
        ),
    ] = None,
    lookback_days: Annotated[
        int | None,
        typer.Option(
            help="Days of messages each later sync reads again, for opens and clicks that "
            f"arrive late (default: {DEFAULT_LOOKBACK_DAYS}).",
            show_default=False,
        ),
    ] = None,
    max_rps: Annotated[
        int | None,
        typer.Option(help="App API requests per second (Customer.io allows 10; 0 = unpaced)."),
    ] = None,
    destination_url: Annotated[
        str | None,
        typer.Option(
            "--destination",
            help="Where its tables land: duckdb (default), postgresql://..., delta:///path, ... "
            f"(docs/destinations.md). Default: ${destination.ENV_DESTINATION}, else duckdb. "
            "Leave the password out (argv is visible to other users): it is read from "
            f"${ENV_DESTINATION_PASSWORD}, else a hidden prompt.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Link a Customer.io workspace: checks the key at once, then saves it encrypted."""
    validate_name(name)  # before the key is asked for (link_source checks them again)
    validate_history(history_days, lookback_days)
    target = read_destination(destination_url)
    store = cli_context(ctx).store
    source, workspaces = link_source(
        store,
        name,
        region=region.lower(),
        app_api_key=read_app_api_key(app_api_key),
        api_base_url=api_base_url,
        tables=table or (),
        max_rps=max_rps,
        target=target,
        history_days=history_days,
        lookback_days=lookback_days,
    )
    names = ", ".join(str(w.get("name", w.get("id", "?"))) for w in workspaces) or "(none listed)"
    console.print(
        f"Linked source [bold]{source.name}[/] (region {source.region}; workspace: {names}) "
        f"with {len(source.tables)} tables, loading into "
        f"{destination.of_source(source.destination).display()}. "
        f"Next: [bold]cio-warehouse sync {source.name}[/]"
    )


@app.command("list")
def list_sources(ctx: typer.Context) -> None:
    """List the linked sources."""
    store = cli_context(ctx).existing_store
    rows = []
    for name in store.source_names():
        source = store.get_source(name)
        last = store.last_runs(name)
        last_end = max((r.ended_at or r.started_at for r in last.values()), default=None)
        rows.append(
            (name, source.region, source.api_base_url or "-", len(source.tables), when(last_end))
        )
    if not rows:
        console.print("No sources yet: link one with `cio-warehouse source add NAME --region us`.")
        return
    columns = ["source", "region", "api base url", "tables", "last sync"]
    console.print(rich_table(None, columns, rows))


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source to unlink.")],
    drop_data: Annotated[
        bool, typer.Option("--drop-data", help="Also drop its schema from the warehouse.")
    ] = False,
) -> None:
    """Unlink a source: delete its reporting webhook and keys (tables stay unless --drop-data)."""
    context = cli_context(ctx)
    target = destination.of_source(context.store.get_source(name).destination)
    warning = webhook_links.remove_source(context.store, name)
    if warning:
        console.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    if drop_data:
        drop_dataset(context.data_dir, name, target)
        console.print(f"Removed source [bold]{name}[/], its keys and its tables.")
    else:
        console.print(
            f"Removed source [bold]{name}[/]; its keys are deleted and its tables stay in the "
            f"warehouse (schema {name}). Use --drop-data to drop them too."
        )
