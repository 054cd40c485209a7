"""Delta Lake tables as DuckDB views: the query path's SQL over a Delta destination.

Every Delta table under <location>/<dataset>/ becomes a view "<dataset>"."<table>" of an in-memory
DuckDB connection (and `deliveries` a view over them, as on the SQL engines), over the Arrow
dataset of the table's current version (deltalake reads the Delta log; DuckDB scans the Parquet
files through Arrow, with filter and column pushdown). DuckDB's own delta extension would be
downloaded at run time, which is not always possible.

Columns dlt loaded as JSON (Arrow and Delta have no JSON type: they hold the text) are cast back
to DuckDB's JSON in the views, so that the same SQL runs on a Delta source as on the default
DuckDB warehouse. The types come from dlt's own schema, stored beside the tables (_dlt_version).

Object-store credentials are dlt's settings (DESTINATION__FILESYSTEM__CREDENTIALS__...), resolved
as the loads resolve them.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from cio_warehouse.warehouse import deliveries
from cio_warehouse.warehouse.duckdb_file import lock_down

# Registered Arrow datasets live in DuckDB's temp catalog under these names; the views point at
# them. (information_schema lists them as temp.main.<name>: not a source's schema.)
_REGISTERED_PREFIX = "__delta__"
# dlt's bookkeeping beside the tables: its loads, its schema versions, pipeline state.
_DLT_PREFIX = "_dlt"


@dataclass(frozen=True)
class _Store:
    """How to list and open what lies under a location: fsspec and deltalake's storage options."""

    fs: Any  # fsspec.AbstractFileSystem
    storage_options: dict[str, str]


def open_delta(location: str, datasets: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view "<dataset>"."<table>" per Delta table.

    `location` is the destination's bucket URL (file:///abs/path, s3://bucket/prefix ...). A
    dataset without tables yet still gets its (empty) schema. The views read the tables' versions
    current at this call: open a new connection to see later loads.

    The views exist on this connection only: DuckDB's registered Arrow objects are invisible to
    its `.cursor()` connections. Query through the returned connection itself.
    """
    store = _store(location)
    con = duckdb.connect(":memory:")
    try:
        for dataset in datasets:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(dataset)}")
            root = _join(location, dataset)
            json_columns = _json_columns(store, root)
            tables = delta_tables(store, root)
            for table in tables:
                _add_view(con, store, dataset, table, _join(root, table),
                          json_columns.get(table, set()))
            if tables:
                con.execute(deliveries.create_view_sql(dataset, tables))
        # deltalake and pyarrow read the tables, not DuckDB: it needs no file access at all (and
        # gets the product's memory cap, CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT).
        lock_down(con)
    except BaseException:
        con.close()
        raise
    return con


def dataset_tables(location: str, dataset: str) -> list[str]:
    """The Delta tables of `dataset` at the destination's `location`."""
    return delta_tables(_store(location), _join(location, dataset))


def delta_tables(store: _Store, root: str) -> list[str]:
    """The Delta tables directly under `root` (a dataset's folder), without dlt's own."""
    if not store.fs.isdir(root):
        return []
    names = sorted(posixpath.basename(p.rstrip("/")) for p in store.fs.ls(root, detail=False))
    return [
        name for name in names
        if not name.startswith(_DLT_PREFIX)
        and store.fs.isdir(_join(_join(root, name), "_delta_log"))
    ]


def _string_views(schema: pa.Schema) -> pa.Schema:
    """The table's schema with its text columns read as Arrow string views.

    A Delta MERGE (every event load after the first) writes text as string_view in Parquet, the
    first write as string; a dataset typed `string` then fails any filter on such a file ("no
    kernel matching input types (string, string_view)", pyarrow 26). As views, both kinds read
    and filter alike, and DuckDB sees VARCHAR either way.
    """
    return pa.schema(
        field.with_type(pa.string_view())
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type) else field
        for field in schema
    )


def _add_view(
    con: duckdb.DuckDBPyConnection,
    store: _Store,
    dataset: str,
    table: str,
    uri: str,
    json_columns: set[str],
) -> None:
    from deltalake import DeltaTable

    delta = DeltaTable(uri, storage_options=store.storage_options or None)
    arrow = delta.to_pyarrow_dataset(schema=_string_views(delta.to_pyarrow_dataset().schema))
    registered = f"{_REGISTERED_PREFIX}{dataset}__{table}"
    con.register(registered, arrow)
    present = [c for c in arrow.schema.names if c in json_columns]
    replace = (
        " REPLACE (" + ", ".join(f"CAST({_ident(c)} AS JSON) AS {_ident(c)}" for c in present) + ")"
        if present else ""
    )
    con.execute(
        f"CREATE VIEW {_ident(dataset)}.{_ident(table)} AS "
        f"SELECT *{replace} FROM {_ident(registered)}"
    )


def _json_columns(store: _Store, root: str) -> dict[str, set[str]]:
    """Per table, the columns dlt's newest stored schemas declare `json`.

    The filesystem destination keeps each schema version as a JSON line in
    <dataset>/_dlt_version/<schema name>__<...>.jsonl; one schema per pipeline (a full-refresh
    table each, the event loader's tables), the newest version of each wins.
    """
    folder = _join(root, "_dlt_version")
    if not store.fs.isdir(folder):
        return {}
    newest: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in store.fs.ls(folder, detail=False):
        if not str(path).endswith(".jsonl"):
            continue
        with store.fs.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                name, inserted = record.get("schema_name", ""), str(record.get("inserted_at", ""))
                if name not in newest or inserted > newest[name][0]:
                    newest[name] = (inserted, json.loads(record["schema"]))
    columns: dict[str, set[str]] = {}
    for _, schema in newest.values():
        for table, spec in schema.get("tables", {}).items():
            for column, hints in spec.get("columns", {}).items():
                if hints.get("data_type") == "json":
                    columns.setdefault(table, set()).add(column)
    return columns


def _store(location: str) -> _Store:
    """fsspec and deltalake options for `location`, from dlt's filesystem settings."""
    import dlt
    from dlt.common.libs.deltalake import deltalake_storage_options
    from dlt.common.storages.fsspec_filesystem import fsspec_from_config
    from dlt.destinations.impl.filesystem.configuration import (
        FilesystemDestinationClientConfiguration,
    )

    factory: Any = dlt.destinations.filesystem(bucket_url=location)
    config = factory.configuration(
        FilesystemDestinationClientConfiguration()._bind_dataset_name(dataset_name="")
    )
    fs, _ = fsspec_from_config(config)
    options = deltalake_storage_options(config.credentials, config.deltalake_storage_options)
    return _Store(fs, {k: str(v) for k, v in options.items()})


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
