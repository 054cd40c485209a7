"""What every command needs: the data dir and its state store, opened once per invocation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import typer

from cio_warehouse.state import DataDir, StateStore


@dataclass
class CliContext:
    data_dir: DataDir

    @cached_property
    def store(self) -> StateStore:
        return StateStore(self.data_dir)

    @cached_property
    def existing_store(self) -> StateStore:
        """The store for a command that only reads: refused, creating nothing, where there is no
        data dir."""
        return StateStore(self.data_dir.existing())


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj
