"""`cio-warehouse alert add|list|remove|test`: where alerts go, and whether they arrive."""

from __future__ import annotations

import os
import sys
from typing import Annotated
from urllib.parse import urlsplit

import typer

from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, err_console, rich_table
from cio_warehouse.ops import alerts
from cio_warehouse.secret import url_holds_secret
from cio_warehouse.state import StateError

ENV_SMTP_URL = "CIO_WAREHOUSE_SMTP_URL"
ENV_SMTP_PASSWORD = "CIO_WAREHOUSE_SMTP_PASSWORD"  # noqa: S105  (a variable name)

app = typer.Typer(no_args_is_help=True)


def _from_stdin(value: str | None, what: str) -> str | None:
    """`-` reads the URL from stdin, so that it never sits in argv (other users can read it)."""
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        raise StateError(f"No {what} URL on stdin: pipe it in, or give it after the option.")
    return line


def _smtp_password(smtp_url: str) -> str | None:
    """The SMTP password when the URL has a user and none: $CIO_WAREHOUSE_SMTP_PASSWORD, else a
    hidden prompt in a terminal."""
    parts = urlsplit(smtp_url)
    if not parts.username or parts.password is not None:
        return None
    raw = os.environ.get(ENV_SMTP_PASSWORD)
    if not raw and os.isatty(0):
        raw = typer.prompt(f"SMTP password for {parts.username}", hide_input=True)
    return raw or None


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the channel.")],
    slack: Annotated[str | None, typer.Option(
        "--slack", help="A Slack incoming webhook URL ('-': read it from stdin).")] = None,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="A URL that receives each alert as a JSON POST ('-': from stdin).")
    ] = None,
    email: Annotated[str | None, typer.Option(
        "--email", help="Where to mail alerts (comma-separated for several).")] = None,
    smtp_url: Annotated[str | None, typer.Option(
        "--smtp-url", envvar=ENV_SMTP_URL, show_envvar=True,
        help="smtp://user@host:587 (STARTTLS; ?starttls=false for none) or smtps://user@host:465;"
        " ?from=ADDRESS. The password: in the URL, $CIO_WAREHOUSE_SMTP_PASSWORD or a prompt.")
    ] = None,
) -> None:
    """Add an alert channel: a Slack webhook, a JSON webhook, or email over SMTP."""
    slack, webhook = _from_stdin(slack, "Slack"), _from_stdin(webhook, "webhook")
    in_argv = smtp_url is not None and smtp_url != os.environ.get(ENV_SMTP_URL)
    if smtp_url and in_argv and url_holds_secret(smtp_url):
        err_console.print(
            "[yellow]Warning:[/] --smtp-url holds a password, and other users of this machine can"
            f" read the command line: set ${ENV_SMTP_URL} instead, or leave the password out and "
            f"enter it when asked (or set ${ENV_SMTP_PASSWORD}).", highlight=False, soft_wrap=True,
        )
    password = _smtp_password(smtp_url) if email and smtp_url else None
    added = alerts.add_channel(cli_context(ctx).store, name, slack=slack, webhook=webhook,
                               email=email, smtp_url=smtp_url, smtp_password=password)
    console.print(f"Added alert channel {added.name} ({added.kind}): {added.shown}. Try it with "
                  f"[bold]cio-warehouse alert test {added.name}[/].", highlight=False)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The alert channels (their URLs and passwords masked) and whether they deliver."""
    found = alerts.list_channels(cli_context(ctx).store)
    if not found:
        console.print("No alert channels yet: add one with `cio-warehouse alert add`.")
        return
    rows = [(c.name, c.kind, c.shown, "failing" if c.failing else "ok") for c in found]
    console.print(rich_table("Alert channels", ["name", "kind", "target", "state"], rows))
    for channel in found:
        if channel.failing:
            console.print(f"[red]{channel.sentence()}[/]", highlight=False)


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The channel.")]) -> None:
    """Remove an alert channel and the messages still waiting for it."""
    alerts.remove_channel(cli_context(ctx).store, name)
    console.print(f"Removed alert channel {name}.")


@app.command("test")
def test(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The channel.")]) -> None:
    """Send a test message and say whether it arrived (exit 1 if not)."""
    outcome = alerts.send_test(cli_context(ctx).store, name)
    if outcome.ok:
        console.print(f"Test message delivered to {name}: {outcome.answer}.", highlight=False)
        return
    err_console.print(f"[bold red]Test message not delivered to {name}:[/] {outcome.answer}",
                      highlight=False, soft_wrap=True)
    raise typer.Exit(1)
