"""`cio-warehouse serve`: the service and the webhook receiver, until Ctrl-C."""

from __future__ import annotations

import os
import re
from typing import Annotated

import typer

from cio_warehouse.cli import load_cmd, receive_cmd
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console
from cio_warehouse.cli.receive_cmd import InboxOption, LogFormatOption
from cio_warehouse.log_format import LogFormat, json_line, setup_logging
from cio_warehouse.secret import Secret
from cio_warehouse.service.runtime import Endpoints, ServeSettings, serve
from cio_warehouse.web.hosts import ENV_ALLOWED_HOSTS, AllowedHosts, parse_allowed_hosts
from cio_warehouse.web.settings import WebSettings
from cio_warehouse.webhooks.inbox import inbox_location
from cio_warehouse.webhooks.registration import webhook_url


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    # Here, beside serve: the parts of serve that also run alone (docs/deployment.md).
    receive_cmd.register(app)
    load_cmd.register(app)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface of the service (API).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the service (API).")] = 8000,
    webhook_host: Annotated[
        str, typer.Option(help="Interface of the webhook receiver (0.0.0.0 to accept from afar).")
    ] = "127.0.0.1",
    webhook_port: Annotated[int, typer.Option(help="Port of the webhook receiver.")] = 8001,
    inbox: InboxOption = None,
    scheduler: Annotated[
        bool, typer.Option(help="Sync each table at its frequency; --no-scheduler leaves syncs "
                           "to `cio-warehouse sync` run by cron or an orchestrator.")
    ] = True,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host name the web app also answers to (repeatable; also "
            f"${ENV_ALLOWED_HOSTS}, comma-separated), e.g. the name a reverse proxy passes on. "
            "127.0.0.1, localhost, --host and the public base URL's host always work.",
            show_default=False,
        ),
    ] = None,
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run the service (syncs, event loader, API) and the webhook receiver until Ctrl-C."""
    setup_logging(log_format, text_line="%(asctime)s %(levelname)s %(message)s")
    say = _say_json if log_format is LogFormat.JSON else _say_text
    named = parse_allowed_hosts([*(allowed_host or ()), os.environ.get(ENV_ALLOWED_HOSTS, "")])
    context = cli_context(ctx)
    names = context.store.source_names()
    location = inbox_location(context.data_dir, inbox)  # a bad URL fails here, in one sentence

    def ready(endpoints: Endpoints) -> None:
        say(f"Web app and API on {endpoints.api_url} (the CLI uses it while this runs).")
        # Customer.io posts to the public base URL (a setting of the web app, e.g. a proxy).
        public = WebSettings(context.data_dir.web_settings, lambda: endpoints.receiver_url)
        if host not in ("127.0.0.1", "localhost", "::1"):
            hosts = AllowedHosts(host, named, public.configured_public_base_url).current()
            say(
                f"The web app answers to the Host names {', '.join(hosts)}; name others with "
                f"--allowed-host or ${ENV_ALLOWED_HOSTS}.", highlight=False, soft_wrap=True,
            )
        if endpoints.admin_token is not None:
            # Printed this once: only its hash is kept (admin_token.json in the data dir).
            say(
                f"Admin token (shown once, keep it safe): [bold]{endpoints.admin_token}[/]\n"
                "  To get a new one, delete admin_token.json in the data dir and start again.",
                highlight=False, soft_wrap=True,
            )
        if endpoints.login_url is not None:
            say(
                f"Log in once with {endpoints.login_url} (valid for an hour, for one login).",
                highlight=False, soft_wrap=True,
            )
        say(f"Webhook receiver on {endpoints.receiver_url}, inbox {location}",
            highlight=False, soft_wrap=True)
        for name in names:
            say(f"  {name}: {webhook_url(public.public_base_url(), name)}")
        say("Press Ctrl-C to stop; acknowledged events are loaded before exit.")

    closing = serve(
        context.data_dir,
        ServeSettings(host, port, webhook_host, webhook_port,
                      Secret(inbox) if inbox and inbox.strip() else None, scheduler,
                      allowed_hosts=named, log_format=log_format),
        on_ready=ready,
    )
    say(closing.sentence(), highlight=False, soft_wrap=True)


def _say_text(message: str, *, highlight: bool | None = None,
              soft_wrap: bool | None = None) -> None:
    console.print(message, highlight=highlight, soft_wrap=soft_wrap)


def _say_json(message: str, *, highlight: bool | None = None,
              soft_wrap: bool | None = None) -> None:
    """The banner as lines of the JSON log format, on stdout as in text: a log collector then
    reads every line of `serve --log-format json` as one object."""
    plain = re.sub(r"\[/?bold\]|\[/\]", "", message).strip()  # Rich's markup is for a terminal
    print(json_line(plain, logger="cio_warehouse.serve"), flush=True)
