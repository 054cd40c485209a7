"""`cio-warehouse demo`: the whole flow against the bundled sandbox: link, sync every table,
register the reporting webhook, store its signing key, stream events, query."""

from __future__ import annotations

import secrets
import shlex
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live

from cio_warehouse import catalog, webhook_links
from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import console, print_rows, rich_table
from cio_warehouse.cli.sync_cmds import ProgressView, print_outcomes
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.service.runtime import Endpoints, ServeSettings, Service
from cio_warehouse.sources import link_source
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.state.datadir import DEFAULT_DATA_DIR
from cio_warehouse.warehouse.query import execute

DEMO_SOURCE = "demo"
SAMPLE_QUERY = (
    "select channel, count(*) as deliveries, count(opened_at) as opened,"
    " count(*) filter (where from_webhook) as seen_by_webhook"
    " from demo.deliveries group by channel order by deliveries desc"
)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the generated workspace.")] = 1,
    port: Annotated[int, typer.Option(help="Port of the service (0: any free port).")] = 8000,
    webhook_port: Annotated[int, typer.Option(help="Port of the webhook receiver.")] = 8001,
    events_per_second: Annotated[
        float, typer.Option(help="Rate of the sandbox's reporting-webhook deliveries.")
    ] = 20.0,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds (default: run until Ctrl-C)."),
    ] = None,
) -> None:
    """Run the product end to end against a sandbox Customer.io workspace, until Ctrl-C."""
    context = cli_context(ctx)
    key = Secret(secrets.token_urlsafe(24))
    if DEMO_SOURCE in context.store.source_names():
        # The previous demo's sandbox is gone with its webhook: forget the source locally, before
        # the service starts and its scheduler could try to sync it.
        webhook_links.forget_source(context.store, DEMO_SOURCE)
    with SandboxServer(Workspace.preset("small", seed), api_key=key.reveal()) as sandbox:
        service, endpoints = _start_service(context.data_dir, port, webhook_port)
        failed = threading.Event()
        steps = threading.Thread(
            target=_walkthrough,
            args=(service, endpoints, sandbox, key, events_per_second, duration, failed),
            name="demo",
        )
        try:
            steps.start()
            service.run()
        finally:
            sandbox.stop_stream()
            service.close()
            steps.join(timeout=5)
    console.print("Demo stopped; the data stays in " + str(context.data_dir.root))
    if failed.is_set():
        raise typer.Exit(1)


def _start_service(data_dir: DataDir, port: int, webhook_port: int) -> tuple[Service, Endpoints]:
    """The usual ports, or free ones when something else holds them."""
    service = Service(data_dir, ServeSettings(port=port, webhook_port=webhook_port))
    try:
        return service, service.start()
    except StateError:
        service.close()
    service = Service(data_dir, ServeSettings(port=0, webhook_port=0))
    return service, service.start()


def _walkthrough(
    service: Service,
    endpoints: Endpoints,
    sandbox: SandboxServer,
    key: Secret,
    rate: float,
    duration: float | None,
    failed: threading.Event,
) -> None:
    try:
        _steps(service, endpoints, sandbox, key, rate)
        if duration is None:
            console.print("\n[bold]Press Ctrl-C to stop.[/]")
        else:
            time.sleep(duration)
            service.request_stop()
    except Exception as exc:  # noqa: BLE001  shown, then the demo stops
        console.print(f"[bold red]Demo failed:[/] {exc}")
        failed.set()
        service.request_stop()


def _steps(
    service: Service, endpoints: Endpoints, sandbox: SandboxServer, key: Secret, rate: float
) -> None:
    store = service.store
    console.print(f"1. Sandbox Customer.io workspace on {sandbox.url}")
    # Every table, message history too: `deliveries` then has the sandbox's two weeks of sends.
    link_source(store, DEMO_SOURCE, region="us", app_api_key=key, api_base_url=sandbox.url,
                tables=[t.name for t in catalog.TABLES])
    console.print(f"2. Linked it as source [bold]{DEMO_SOURCE}[/]; syncing the App API tables "
                  "and message history:")
    # Through the scheduler, like "Sync now": never a second run of a table it starts itself
    # (and if its tick was first, watch that job instead).
    try:
        job = service.scheduler.trigger(DEMO_SOURCE)
    except StateError:
        job = service.jobs.active(DEMO_SOURCE)[0]
    view = ProgressView()
    view.progress = job.progress
    with Live(view, console=console, refresh_per_second=4):
        while not job.done:
            view.progress = job.progress
            time.sleep(0.2)
        elapsed = view.finish()
    if job.error or job.outcomes is None:
        raise StateError(f"the first sync failed: {job.error}")
    print_outcomes(job.outcomes, elapsed)

    registered = webhook_links.register(store, DEMO_SOURCE, endpoints.receiver_url)
    if not registered.ok or registered.webhook is None:
        raise StateError(f"registering the reporting webhook failed: {registered.failure}")
    console.print(
        f"3. Registered reporting webhook {registered.webhook['id']} for {registered.url} "
        "(disabled until its signing key is stored)."
    )
    # Play the user who copies the signing key from Customer.io's Reporting Webhooks page.
    signing_key = Secret(sandbox.signing_key(int(registered.webhook["id"])))
    webhook_links.save_signing_key(store, DEMO_SOURCE, signing_key)
    console.print("4. Stored the signing key; the webhook is enabled.")
    sandbox.stream(rate)
    console.print(f"5. Customer.io (the sandbox) now sends {rate:g} signed deliveries a second.")
    _wait_for_events(service)
    cursor = service.warehouse.cursor()
    try:
        counts = []
        for table in catalog.WEBHOOK_TABLES:
            try:
                found = execute(cursor, f"select count(*) from {DEMO_SOURCE}.{table.name}", 1)
                counts.append((f"{DEMO_SOURCE}.{table.name}", found.rows[0][0]))
            except Exception:  # noqa: BLE001  a channel with no event yet has no table
                counts.append((f"{DEMO_SOURCE}.{table.name}", 0))
        console.print(rich_table("Event tables so far", ["table", "rows"], counts))
        console.print(f"Sample query: [bold]{SAMPLE_QUERY}[/]")
        result = execute(cursor, SAMPLE_QUERY, 20)
        print_rows(result.columns, result.rows, "table")
    finally:
        cursor.close()
    # The commands as they are to be typed: with this data dir when it is not the default one.
    here = service.data_dir.root
    cli = "cio-warehouse" + (
        "" if here == Path(DEFAULT_DATA_DIR).resolve() else f" --data-dir {shlex.quote(str(here))}"
    )
    console.print(
        f"\nService on {endpoints.api_url}. Query while it runs, from another terminal:\n"
        f"  {cli} query {shlex.quote(f'select * from {DEMO_SOURCE}.email_events limit 10')}\n"
        f"  {cli} status {DEMO_SOURCE}",
        markup=False, highlight=False, soft_wrap=True,
    )
    if endpoints.login_url is not None:
        console.print(f"Web app: log in once with {endpoints.login_url}", highlight=False,
                      soft_wrap=True)
    if endpoints.admin_token is not None:
        console.print(f"Admin token (shown once): {endpoints.admin_token}", highlight=False,
                      soft_wrap=True)


def _wait_for_events(service: Service, timeout: float = 30.0) -> None:
    """Until the loader has put the first deliveries in the warehouse."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.loader.status().events_loaded > 50:
            return
        time.sleep(0.5)
