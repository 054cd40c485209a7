"""The dlt destination of a data dir: an embedded DuckDB file, one dataset (schema) per source."""

from __future__ import annotations

import os

import dlt
from dlt.common.destination import Destination
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from cio_warehouse.state import DataDir

# DuckDB's buffer pool defaults to 80% of RAM and keeps what it touched: a load of a large table
# would hold hundreds of MB long after. A cap keeps memory flat as workspaces grow; DuckDB spills
# to disk beyond it. Override with CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT.
DEFAULT_MEMORY_LIMIT = "256MB"


def duckdb_settings() -> dict[str, str]:
    limit = os.environ.get("CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    return {"memory_limit": limit}


def destination_for(data_dir: DataDir) -> Destination:  # type: ignore[type-arg]
    credentials = DuckDbCredentials(str(data_dir.warehouse), global_config=duckdb_settings())
    return dlt.destinations.duckdb(credentials)
