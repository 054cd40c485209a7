"""`cio-warehouse query SQL`: read-only SQL over the warehouse as a table, CSV or JSON."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cio_warehouse.cli.context import cli_context
from cio_warehouse.cli.output import print_rows
from cio_warehouse.service.discovery import find_running
from cio_warehouse.service.remote import RemoteService
from cio_warehouse.state import DataDir
from cio_warehouse.warehouse.query import QueryResult, run_query


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("query")(query)


def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help='e.g. "select name, state from acme.campaigns"')],
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    source: Annotated[
        str | None,
        typer.Option(
            help="Run on this source's warehouse (needed only when sources load into "
            "different destinations).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run read-only SQL; each source is a schema (acme.campaigns, acme.email_events, ...).

    The SQL is that of the source's warehouse: DuckDB's (also for Delta Lake) or PostgreSQL's.
    """
    data_dir = cli_context(ctx).data_dir.existing()  # a read: never makes a data dir
    result = read(data_dir, sql, source)
    print_rows(result.columns, result.rows, format.value)


def read(data_dir: DataDir, sql: str, source: str | None = None) -> QueryResult:
    """Read-only SQL through the running service (it owns the warehouse file), else here."""
    service = find_running(data_dir)
    if service is None:
        return run_query(data_dir, sql, source=source)
    remote = RemoteService(service)
    try:
        return remote.query(sql, source)
    finally:
        remote.close()
