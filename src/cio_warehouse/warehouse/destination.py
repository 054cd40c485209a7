"""The dlt destination of a data dir: an embedded DuckDB file, one dataset (schema) per source."""

from __future__ import annotations

import dlt
from dlt.common.destination import Destination

from cio_warehouse.state import DataDir


def destination_for(data_dir: DataDir) -> Destination:  # type: ignore[type-arg]
    return dlt.destinations.duckdb(str(data_dir.warehouse))
