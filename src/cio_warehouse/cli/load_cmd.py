"""`cio-warehouse load`: an event loader alone, e.g. a second one on a shared inbox."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console
from cio_warehouse.cli.receive_cmd import InboxOption
from cio_warehouse.service.discovery import find_running
from cio_warehouse.state import StateError
from cio_warehouse.webhooks.inbox import inbox_location
from cio_warehouse.webhooks.loader import EventLoader


def register(app: typer.Typer) -> None:
    app.command("load")(load_command)


def load_command(
    ctx: typer.Context,
    inbox: InboxOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Load what is pending, then exit (for a scheduler).")
    ] = False,
) -> None:
    """Load webhook deliveries from the inbox into the sources' warehouses, until Ctrl-C.

    `serve` runs a loader already. Extra loaders on a shared PostgreSQL
    inbox, each with a data dir of its own listing the sources it loads,
    drain it together, each event loaded once. See docs/deployment.md.
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    context = cli_context(ctx)
    location = inbox_location(context.data_dir, inbox)
    if find_running(context.data_dir) is not None:
        raise StateError(
            "`cio-warehouse serve` runs on this data dir and its loader drains the inbox already; "
            "an extra loader needs a data dir of its own (docs/deployment.md)."
        )
    loader = EventLoader(context.data_dir, inbox=location)
    if once:
        try:
            stats = loader.drain()
        finally:
            loader.close()
        console.print(f"Loaded {stats.events} events and {stats.dead_letters} dead letters "
                      f"from the inbox {location}.", highlight=False, soft_wrap=True)
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"Loading from the inbox {location}; Ctrl-C to stop.", highlight=False,
                  soft_wrap=True)
    loader.run_forever(stop)  # a failure backs off and retries; the inbox keeps the events
