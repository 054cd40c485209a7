"""`cio-warehouse receive`: a webhook receiver alone, e.g. one of several behind a load balancer."""

from __future__ import annotations

from typing import Annotated

import typer

from cio_warehouse.cli.context import cli_context
from cio_warehouse.log_format import ENV_LOG_FORMAT, LogFormat, setup_logging
from cio_warehouse.webhooks import receiver_process
from cio_warehouse.webhooks.inbox import ENV_INBOX, inbox_location
from cio_warehouse.webhooks.receiver import ReceiverSettings

# `--inbox` of serve and receive.
InboxOption = Annotated[
    str | None,
    typer.Option(
        "--inbox",
        envvar=ENV_INBOX,
        help="A PostgreSQL inbox that several receivers share: postgresql://USER:PASSWORD@HOST/DB "
        f"(prefer ${ENV_INBOX}: argv is visible to other users). Default: the data dir's "
        "inbox.db.",
        show_default=False,
        show_envvar=False,
    ),
]


# `--log-format` of serve and receive.
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        envvar=ENV_LOG_FORMAT,
        help="text, or json: one object a line (time, level, logger, message, source and table "
        "where known).",
        case_sensitive=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("receive")(receive_command)


def receive_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8001,
    inbox: InboxOption = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Larger deliveries are refused (413).")
    ] = ReceiverSettings.max_body_bytes,
    max_connections: Annotated[
        int, typer.Option(help="Connections open at once; past it a request gets 503.")
    ] = ReceiverSettings.max_connections,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a request's headers may take to arrive; then the "
                            "connection is closed.")
    ] = ReceiverSettings.header_timeout_seconds,
    body_timeout: Annotated[
        float, typer.Option(help="Seconds a request's body may take to arrive after its "
                            "headers; then the connection is closed.")
    ] = ReceiverSettings.body_timeout_seconds,
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run only a webhook receiver (no service), e.g. one of several behind a load balancer.

    On a shared PostgreSQL inbox it reads the signing keys that the service
    publishes there, with the service's secret key ($CIO_WAREHOUSE_SECRET_KEY).
    Prints {"url": ...} once it listens. See docs/deployment.md.
    """
    setup_logging(log_format)
    data_dir = cli_context(ctx).data_dir
    location = inbox_location(data_dir, inbox)
    settings = ReceiverSettings(
        max_body_bytes=max_body_bytes, max_connections=max_connections,
        header_timeout_seconds=header_timeout, body_timeout_seconds=body_timeout,
    )
    code = receiver_process.run(data_dir, host, port, location, settings)
    raise typer.Exit(code)
