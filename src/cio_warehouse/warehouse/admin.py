"""Changes to the warehouse that are not loads: dropping a source's dataset."""

from __future__ import annotations

import duckdb

from cio_warehouse.state import DataDir
from cio_warehouse.warehouse.query import QueryError


def drop_dataset(data_dir: DataDir, dataset: str) -> None:
    """Drop the source's schema and dlt's staging schema beside it."""
    if not data_dir.warehouse.exists():
        return
    try:
        con = duckdb.connect(str(data_dir.warehouse))
    except duckdb.IOException as exc:
        raise QueryError(f"The warehouse is locked by another process: {exc}") from None
    try:
        for schema in (dataset, f"{dataset}_staging"):
            # Source names are validated identifiers (sources.validate_name); quote anyway.
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        con.close()
