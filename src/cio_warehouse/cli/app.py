"""The Typer app: global options, the commands, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cio_warehouse.cli import (
    alert_cmds,
    demo_cmd,
    query_cmd,
    serve_cmd,
    source_cmds,
    sync_cmds,
    webhook_cmds,
)
from cio_warehouse.cli.command_tree import build
from cio_warehouse.cli.context import CliContext
from cio_warehouse.cli.output import fail
from cio_warehouse.configure import configure
from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.state import DataDir, StateError, resolve_data_dir
from cio_warehouse.state.datadir import ENV_DATA_DIR, keep_files_private
from cio_warehouse.warehouse.query import QueryError

app = typer.Typer(
    name="cio-warehouse",
    help="Customer.io data in SQL: App API tables by full refresh, message activity in realtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=ENV_DATA_DIR,
            help="Where sources, run history, secrets and the warehouse live (default: "
            "./cio-warehouse-data); before or after the command.",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = CliContext(DataDir(resolve_data_dir(data_dir)))


app.add_typer(source_cmds.app, name="source", help="Link, list and remove Customer.io workspaces.")
app.add_typer(
    webhook_cmds.app, name="webhook", help="Register the Reporting Webhook and watch deliveries."
)
app.add_typer(alert_cmds.app, name="alert", help="Where alerts go: Slack, a webhook, email.")
sync_cmds.register(app)
query_cmd.register(app)
serve_cmd.register(app)
demo_cmd.register(app)

# Errors we expect are a sentence for the user; anything else is a bug and keeps its traceback.
_USER_ERRORS = (CustomerIOError, StateError, QueryError)


def main() -> None:
    keep_files_private()  # before anything is written to the data dir
    configure()
    try:
        # Outside standalone mode click returns a typer.Exit's code instead of exiting.
        code = build(app).main(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except _USER_ERRORS as exc:
        fail(str(exc))
        sys.exit(1)
    except typer.Abort:
        fail("Aborted.")
        sys.exit(130)
    except KeyboardInterrupt:
        fail("Interrupted; tables that were being synced keep their previous rows.")
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None) if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code)
    except typer.TyperException as exc:
        # Usage errors (unknown option or command, missing argument, no arguments at all) come
        # through here outside standalone mode. Typer >= 0.26 vendors click, so they are not
        # `click.ClickException`s; their public base is `typer.TyperException`, and each of them
        # (a vendored ClickException) has click's `show()`: usage line, hint, then the error.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            fail(exc.format_message())
        sys.exit(exc.exit_code)
