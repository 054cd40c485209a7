"""`cio-warehouse webhook register|signing-key|status`."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from cio_warehouse import webhook_links
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, rich_table, when
from cio_warehouse.ops.webhooks import delivery, remote_webhook
from cio_warehouse.secret import Secret
from cio_warehouse.service.discovery import find_running
from cio_warehouse.service.remote import RemoteService
from cio_warehouse.state import DataDir, SourceConfig, StateError, StateStore
from cio_warehouse.warehouse.query import target_for
from cio_warehouse.warehouse.readers import QueryError, open_cursor
from cio_warehouse.web.analytics import missed_deliveries
from cio_warehouse.webhooks.health import Level
from cio_warehouse.webhooks.inbox import inbox_location
from cio_warehouse.webhooks.registration import UI_PATH

app = typer.Typer(no_args_is_help=True)


@app.command("register")
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source.")],
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="Public base URL that reaches the receiver, e.g. https://cio.example.com "
            "(the webhook path is added).",
        ),
    ],
    full_resolution: Annotated[
        bool, typer.Option(help="Every open and click, not only the first (Send Frequency).")
    ] = False,
    with_content: Annotated[
        bool, typer.Option(help="Message bodies in *_sent events (Body Content).")
    ] = False,
) -> None:
    """Register the Reporting Webhook (created disabled until the signing key is stored)."""
    outcome = webhook_links.register(
        cli_context(ctx).store,
        name,
        url,
        full_resolution=full_resolution,
        with_content=with_content,
    )
    if outcome.ok:
        assert outcome.webhook is not None
        verb = "Created" if outcome.created else "Found"
        state = "disabled" if outcome.webhook.get("disabled") else "enabled"
        console.print(
            f"{verb} reporting webhook {outcome.webhook['id']} ({state}) for {outcome.url} with "
            f"{len(outcome.events)} events.\nNext: copy its signing key from Customer.io "
            f"({UI_PATH}) and run "
            f"[bold]cio-warehouse webhook signing-key {name}[/] to enable it."
        )
        if outcome.notice:
            console.print(f"[yellow]Note:[/] {outcome.notice}", highlight=False)
        return
    console.print(
        f"[yellow]The webhook could not be registered automatically:[/] {outcome.failure}.\n"
        "Set it up by hand:"
    )
    for number, step in enumerate(outcome.steps, 1):
        console.print(f"  {number}. {step}", highlight=False)
    raise typer.Exit(1)


@app.command("signing-key")
def signing_key(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The source.")]
) -> None:
    """Store the webhook's signing key (from stdin or a hidden prompt) and enable the webhook."""
    if sys.stdin.isatty():
        raw = typer.prompt("Signing key", hide_input=True)
    else:
        raw = sys.stdin.readline()
    if not raw.strip():
        raise StateError("No signing key given: paste it at the prompt or pipe it on stdin.")
    saved = webhook_links.save_signing_key(cli_context(ctx).store, name, Secret(raw))
    rotation = " The previous key stays valid during the rotation." if saved.rotated else ""
    if saved.webhook is None:
        console.print(
            f"Signing key stored.{rotation} No webhook is registered yet: run "
            f"`cio-warehouse webhook register {name} --url PUBLIC_URL`."
        )
    else:
        console.print(
            f"Signing key stored and webhook {saved.webhook['id']} enabled.{rotation}"
        )


@app.command("status")
def status(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The source.")]) -> None:
    """Both sides: the webhook as Customer.io has it, and our delivery health."""
    context = cli_context(ctx)
    source = context.existing_store.get_source(name)
    found = remote_webhook(context.existing_store, name, interactive=True)
    webhook = found.webhook
    remote = (
        f"unknown ({found.error})" if found.error is not None
        else "not registered" if webhook is None
        else f"id {webhook['id']}, {'disabled' if webhook.get('disabled') else 'enabled'}, "
        f"{len(webhook.get('events') or [])} events, endpoint {webhook.get('endpoint')}"
    )
    console.print(f"Customer.io: {remote}", highlight=False)
    if found.missing_notice:
        console.print(f"[yellow]Note:[/] {found.missing_notice}", highlight=False)
    print_delivery_health(context.data_dir, source)
    print_missed(context.data_dir, name)


def missed_sentences(data_dir: DataDir, name: str) -> list[str]:
    """The days the webhook missed deliveries that message history has: through the running
    service (it owns the warehouse file), else read here; none when the warehouse cannot be read
    (never synced, locked, down), as the service says none then too."""
    running = find_running(data_dir)
    if running is not None:
        remote = RemoteService(running)
        try:
            return remote.missed(name)
        finally:
            remote.close()
    try:
        target, datasets = target_for(StateStore(data_dir), name)
        cursor = open_cursor(target, data_dir, datasets)
    except QueryError:
        return []
    try:
        return [day.sentence() for day in missed_deliveries(cursor, name)]
    finally:
        cursor.close()


def print_missed(data_dir: DataDir, name: str) -> None:
    for sentence in missed_sentences(data_dir, name):
        console.print(f"[yellow]Missed:[/] {sentence}", highlight=False)


def print_loader_state(data_dir: DataDir, name: str) -> None:
    """What the running service's event loader is doing: loading, or backing off and why."""
    running = find_running(data_dir)
    if running is None:
        console.print("Event loader: not running (start `cio-warehouse serve`); acked events "
                      "wait in the inbox.", highlight=False)
        return
    remote = RemoteService(running)
    try:
        state = remote.loader_state(name)
    finally:
        remote.close()
    if state["last_error"]:
        retry = state["retry_at"]
        wait = f", next retry in {max(0.0, retry - time.time()):.0f} s" if retry else ""
        console.print(
            f"[bold red]Event loader failing[/] ({state['consecutive_failures']} attempts in a "
            f"row{wait}); events stay in the inbox until the warehouse takes them: "
            f"{state['last_error']}",
            highlight=False,
        )
    else:
        console.print(f"Event loader: running, last load {when(state['last_loaded_at'])}.",
                      highlight=False)


def print_delivery_health(data_dir: DataDir, source: SourceConfig) -> Level:
    """Print the delivery counters and the verdict; return the verdict's level."""
    # The data dir's inbox, or the shared one of $CIO_WAREHOUSE_INBOX.
    found = delivery(inbox_location(data_dir), source)
    c, verdict = found.counters, found.assessment
    style = {Level.OK: "green", Level.WARNING: "yellow", Level.ERROR: "bold red"}[verdict.level]
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(c.rejected_by_reason.items()))
    rows = [
        ("received", c.received),
        ("stored", c.stored),
        ("duplicates", c.duplicates),
        ("rejected", f"{c.rejected}" + (f" ({rejected})" if rejected else "")),
        ("dropped (no signing key)", c.dropped),
        ("dead letters", c.dead_letters),
        ("last delivery", when(found.last_delivery_at)),
        ("inbox backlog", found.backlog),
    ]
    console.print(rich_table("Delivery health", ["", "value"], rows))
    console.print(f"[{style}]{verdict.level.upper()}:[/] {verdict.message}", highlight=False)
    return verdict.level
