"""The command tree the CLI runs: Typer's, with the global options accepted after any command
too, click's metavars in the help, and the commands in the order a new user needs them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.main import get_command

from cio_warehouse.cli.context import CliContext
from cio_warehouse.state import DataDir, resolve_data_dir

# Top-level help lists these first, in this order (the rest follow as registered): linking a
# source comes before anything can be synced or queried.
FIRST_COMMANDS = ("source", "sync", "tables", "status", "query", "webhook", "serve")

# Typer >= 0.29 shows a Python type (`<str>`, `<list[str]>`, `<bool>`) where click shows a
# metavar; these are click's words for them (a flag takes no value, so shows none).
_METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "bool": ""}


def build(app: typer.Typer) -> Any:
    """The click command of `app`, finished (see the module docstring)."""
    root = get_command(app)
    assert isinstance(root, TyperGroup)
    global_options = [p for p in root.params if isinstance(p, TyperOption) and p.name != "help"]
    order = [n for n in FIRST_COMMANDS if n in root.commands]
    root.commands = {n: root.commands[n]
                     for n in [*order, *(n for n in root.commands if n not in order)]}
    _finish(root, global_options, root)
    return root


def _finish(command: Any, global_options: list[TyperOption], root: Any) -> None:
    for param in command.params:
        _plain_metavar(param)
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""  # a flag
        return option

    command.get_help_option = help_option
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _finish(sub, global_options, root)
    elif command is not root:
        command.params.extend(_repeat(option) for option in global_options)


def _plain_metavar(param: Any) -> None:
    if param.metavar is not None:
        return
    if isinstance(param, TyperArgument):
        param.metavar = param.name.upper()
        # The type column would say `<str>`; the argument's help says what it is.
        param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    elif isinstance(param, TyperOption):
        shown = param.display_type(None).strip("<>")  # type: ignore[arg-type]
        if shown.startswith("list[") and shown.endswith("]"):
            shown = shown[len("list["):-1]
        param.metavar = "" if param.is_flag else _METAVARS.get(shown, shown)


def _repeat(option: TyperOption) -> TyperOption:
    """The root's `option`, also accepted after the subcommand: `status acme --data-dir X` is
    `--data-dir X status acme`. Given in both places with different values: a usage error."""
    repeated = copy.copy(option)
    repeated.envvar = None  # the root reads the environment; here only an explicit value counts
    repeated.default = None
    repeated.expose_value = False
    repeated.callback = _data_dir_after_command
    return repeated


def _data_dir_after_command(ctx: Any, param: Any, value: Path | None) -> None:
    if value is None:
        return
    root = ctx.find_root()
    before = root.params.get(param.name)
    source = root.get_parameter_source(param.name)
    if before is not None and source is not None and source.name == "COMMANDLINE" \
            and resolve_data_dir(before) != resolve_data_dir(value):
        raise typer.BadParameter(
            f"given twice with different values ({before} before the command, {value} after it)",
            ctx=ctx, param=param,
        )
    # The root callback has run (click invokes a group before it parses its subcommand's
    # arguments) and nothing has opened the store yet.
    root.obj = CliContext(DataDir(resolve_data_dir(value)))
