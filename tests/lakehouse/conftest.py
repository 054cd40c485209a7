"""Lakehouse fixtures: a source whose destination is a Delta Lake folder, and readers for it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig, StateStore

SOURCE = "acme"


def use_delta(store: StateStore, source: SourceConfig, lake: Path) -> SourceConfig:
    """Point a stored source at a local Delta Lake location (`delta:///abs/path`)."""
    updated = replace(source, destination=Secret(f"delta://{lake}"))
    store.update_source(updated)
    return updated


def table_dir(lake: Path, table: str, dataset: str = SOURCE) -> Path:
    """dlt's filesystem layout: <location>/<dataset>/<table>."""
    return lake / dataset / table


def read_delta(lake: Path, table: str, dataset: str = SOURCE) -> pa.Table:
    """The table's current version as deltalake (delta-rs, not our code) reads it."""
    return DeltaTable(str(table_dir(lake, table, dataset))).to_pyarrow_table()


def version(lake: Path, table: str, dataset: str = SOURCE) -> int:
    return DeltaTable(str(table_dir(lake, table, dataset))).version()
