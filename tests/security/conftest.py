"""A source synced into each engine the query path serves, and a canary file beside its data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse.query import QueryResult, run_query
from tests.helpers import add_source
from tests.security.hostile_sql import Canary

SYNCED = ("campaigns", "segments")
# What a hostile statement might change, read through the product's ordinary read path.
TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'acme' "
    "ORDER BY table_name"
)
ROWS_SQL = "SELECT count(*), min(name), max(name) FROM acme.campaigns"
DUCKDB_SETTINGS_SQL = (
    "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
    "current_setting('memory_limit'), current_setting('threads')"
)


@dataclass
class Linked:
    engine: str
    data_dir: DataDir
    store: StateStore
    canary: Canary

    @property
    def dialect(self) -> str:
        return "postgres" if self.engine == "postgres" else "duckdb"

    def snapshot(self, query: object = None) -> list[QueryResult]:
        """Tables, rows (and on DuckDB its settings): `query(sql)` reads, else the CLI's path."""
        read = query or (lambda sql: run_query(self.data_dir, sql))
        statements = [TABLES_SQL, ROWS_SQL]
        if self.engine == "duckdb":
            statements.append(DUCKDB_SETTINGS_SQL)
        return [read(sql) for sql in statements]  # type: ignore[operator]


@pytest.fixture(params=["duckdb", "delta", "postgres"])
def linked(
    request: pytest.FixtureRequest, store: StateStore, data_dir: DataDir,
    sandbox: SandboxServer, api_key: str, tmp_path: Path,
) -> Linked:
    """Source `acme` with two tables synced into the engine; the canary lies in the data dir, as
    secret.key and state.db do."""
    engine: str = request.param
    source = add_source(store, sandbox, api_key, tables=SYNCED)
    if engine == "delta":
        store.update_source(replace(source, destination=Secret(f"delta://{tmp_path / 'lake'}")))
    elif engine == "postgres":
        url = request.getfixturevalue("postgres_url")
        store.update_source(replace(source, destination=Secret(url)))
    assert all(o.status == "succeeded" for o in run_sync(store, "acme", list(SYNCED)))
    return Linked(engine, data_dir, store, Canary.plant(data_dir.root / "canary"))
