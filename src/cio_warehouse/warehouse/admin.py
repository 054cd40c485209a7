"""Changes to a warehouse that are not loads: checking a destination, dropping a dataset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from cio_warehouse.state import DataDir
from cio_warehouse.warehouse import postgres_login
from cio_warehouse.warehouse.destination import Target, delta_location
from cio_warehouse.warehouse.duckdb_file import open_warehouse
from cio_warehouse.warehouse.readers import WarehouseUnavailable, connect_postgres, first_line


def check_destination(target: Target) -> None:
    """Fail at `source add`, not at the first sync, when the destination cannot be reached."""
    if target.url is None:
        return
    if target.engine.name == "postgres":
        with _postgres(target) as con:
            con.cursor().execute("SELECT 1")
        url = target.url.reveal()
        if postgres_login.query_url(url) != postgres_login.loader_url(url):
            # The query login too (query_user): a wrong password shows now, not in the SQL box.
            con = connect_postgres(postgres_login.query_url(url))
            con.close()
    elif target.engine.name == "delta":
        fs, path = _filesystem(target)
        try:
            fs.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise WarehouseUnavailable(
                f"The Delta Lake location {target.display()} is not writable: {exc}"
            ) from None


def drop_dataset(data_dir: DataDir, dataset: str, target: Target) -> None:
    """Drop the source's schema (and dlt's staging schema beside it) from its warehouse."""
    schemas = (dataset, f"{dataset}_staging")
    if target.url is None:
        if not data_dir.warehouse.exists():
            return
        try:
            con = open_warehouse(data_dir)
        except duckdb.IOException as exc:
            raise WarehouseUnavailable(
                f"The warehouse is locked by another process: {first_line(exc)}"
            ) from None
        try:
            for schema in schemas:
                # Source names are validated identifiers (sources.validate_name); quote anyway.
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            con.close()
    elif target.engine.name == "postgres":
        with _postgres(target) as con:
            for schema in schemas:
                con.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    elif target.engine.name == "delta":
        fs, path = _filesystem(target)
        for schema in schemas:
            if fs.exists(f"{path}/{schema}"):
                fs.rm(f"{path}/{schema}", recursive=True)
    else:
        raise WarehouseUnavailable(
            f"Drop the schema {dataset} in {target.engine.label} yourself: cio-warehouse does not "
            "change that warehouse outside of loads."
        )


@contextmanager
def _postgres(target: Target) -> Iterator[Any]:
    """A read-write session (autocommit) for the few statements above."""
    assert target.url is not None
    con = connect_postgres(postgres_login.loader_url(target.url.reveal()))
    con.autocommit = True
    try:
        yield con
    finally:
        con.close()


def _filesystem(target: Target):  # type: ignore[no-untyped-def]
    import fsspec

    assert target.url is not None
    return fsspec.core.url_to_fs(delta_location(target.url.reveal()))
