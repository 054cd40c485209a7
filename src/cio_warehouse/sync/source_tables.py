"""A source's tables that exist from the day it is linked: message history, the event tables
(empty until rows come) and the `deliveries` view over them."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import cast

import dlt
import pyarrow
from dlt.common.data_types import TDataType
from dlt.common.schema.typing import TColumnSchema, TWriteDispositionDict
from dlt.destinations.exceptions import DatabaseException
from dlt.extract.resource import DltResource

from cio_warehouse import catalog
from cio_warehouse.exception_chain import one_line
from cio_warehouse.state import DataDir, SourceConfig
from cio_warehouse.sync.history import empty_messages
from cio_warehouse.warehouse import deliveries
from cio_warehouse.warehouse.delta_reader import dataset_tables
from cio_warehouse.warehouse.destination import Target, delta_location, merge_strategy, of_source
from cio_warehouse.warehouse.duckdb_file import holding_warehouse
from cio_warehouse.warehouse.write_lock import write_lock
from cio_warehouse.webhooks import event_rows

log = logging.getLogger(__name__)


def prepare_source_tables(data_dir: DataDir, source: SourceConfig) -> bool:
    """ensure_source_tables, or a warning in the log: the tables' own loads say more, and the
    next sync tries again. True if done."""
    try:
        ensure_source_tables(data_dir, source)
    except Exception as exc:  # noqa: BLE001  never stops a link or a sync
        log.warning("source %s: could not create its empty tables and the deliveries view yet "
                    "(%s); the next sync tries again", source.name, one_line(exc),
                    extra={"source": source.name})
        return False
    return True


def ensure_source_tables(data_dir: DataDir, source: SourceConfig) -> None:
    """Create the base tables `deliveries` reads that are missing, empty, then (re)create the view
    (on SQL engines; the Delta reader defines it when it opens the tables)."""
    target = of_source(source.destination)
    pipeline = dlt.pipeline(
        pipeline_name=f"{source.name}__tables",
        destination=target.dlt_destination(data_dir),
        dataset_name=source.name,
        pipelines_dir=str(data_dir.pipelines),
    )
    held = holding_warehouse(data_dir) if target.is_default else nullcontext()
    with write_lock(target.key(data_dir)), held:
        missing = [t for t in deliveries.BASE_TABLES if t not in _present(pipeline, target)]
        if missing:
            strategy = merge_strategy(pipeline.destination)
            pipeline.run([_empty(name, target, strategy) for name in missing],
                         loader_file_format="parquet")
        if target.engine.name != "delta":
            with pipeline.sql_client() as client:
                try:
                    client.execute_sql(deliveries.create_view_sql(source.name))
                except DatabaseException:  # a view of an older version, with other columns
                    client.execute_sql(deliveries.drop_view_sql(source.name))
                    client.execute_sql(deliveries.create_view_sql(source.name))


def _present(pipeline: dlt.Pipeline, target: Target) -> set[str]:
    if target.engine.name == "delta" and target.url is not None:
        location = delta_location(target.url.reveal())
        return set(dataset_tables(location, pipeline.dataset_name))
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return set()
        rows = client.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            pipeline.dataset_name,
        )
    return {row[0] for row in rows or ()}


def _empty(name: str, target: Target, strategy: str) -> DltResource:
    if name == catalog.MESSAGES.name:
        data: pyarrow.Table = empty_messages()
        columns = catalog.MESSAGE_COLUMNS
        key = catalog.MESSAGES.primary_key
    else:
        data = event_rows.EVENT_SCHEMA.empty_table()
        columns = catalog.EVENT_COLUMNS
        key = "event_id"
    hints: dict[str, TColumnSchema] = {
        c.name: {"data_type": cast(TDataType, c.data_type)} for c in columns
        if c.data_type == "json"
    }
    disposition = cast(TWriteDispositionDict, {"disposition": "merge", "strategy": strategy})
    resource: DltResource = dlt.resource(
        data, name=name, write_disposition=disposition, primary_key=key, columns=hints,
        max_table_nesting=0,
    )
    if target.table_format is not None:
        resource.apply_hints(table_format=target.table_format)
    return resource
