"""Console output: Rich tables for people, CSV and JSON for scripts; errors on stderr."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from cio_warehouse.log_format import print_json_error
from cio_warehouse.warehouse.values import to_json_value

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> None:
    """One clear sentence on stderr (an object, when `serve` or `receive` log JSON); the caller
    exits non-zero."""
    if print_json_error(message, logger="cio_warehouse.cli"):
        return
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)


def when(epoch: float | None, *, short: bool = False) -> str:
    if epoch is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def rich_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    if fmt == "json":
        objects = [{c: to_json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        sys.stdout.write(json.dumps(objects, default=str, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        console.print(rich_table(None, columns, rows))
