"""The warehouse's DuckDB instances are locked down by DuckDB itself, and dlt still loads into them.

These statements run on raw connections, with no query guard in front: they show what the
engine refuses on its own, should the guard ever let something through.
"""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pytest
from dlt.destinations.impl.duckdb.configuration import DuckDbConnectionPool, DuckDbCredentials
from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

from cio_warehouse.state import DataDir
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.duckdb_file import (
    DLT_GLOBAL_SETTINGS,
    DLT_PRAGMAS,
    holding_warehouse,
    is_locked,
    open_read_only,
    open_warehouse,
)


def test_dlt_asks_for_the_settings_the_lockdown_applies() -> None:
    """Fails when a dlt upgrade sets other DuckDB settings: the lockdown must apply them before
    it locks (duckdb_file.DLT_GLOBAL_SETTINGS), or dlt_fixes.settle_locked_duckdb skips them."""
    credentials = DuckDbCredentials(":memory:")
    capabilities = dlt.destinations.duckdb().capabilities()
    client = DuckDbSqlClient("acme", "acme_staging", credentials, capabilities)
    assert client._global_config == DLT_GLOBAL_SETTINGS
    assert client._pragmas == list(DLT_PRAGMAS)
    assert getattr(DuckDbConnectionPool._apply_config, "_cio_locked", False)


def _load(data_dir: DataDir, rows: list[dict[str, object]], name: str = "campaigns") -> None:
    pipeline = dlt.pipeline(
        pipeline_name="lockdown_test",
        destination=destination.parse(None).dlt_destination(data_dir),
        dataset_name="acme", pipelines_dir=str(data_dir.pipelines),
    )
    pipeline.extract(rows, table_name=name, loader_file_format="parquet")
    pipeline.normalize()
    with holding_warehouse(data_dir):
        pipeline.load().raise_on_failed_jobs()


@pytest.fixture
def loaded(data_dir: DataDir) -> DataDir:
    _load(data_dir, [{"id": 1, "name": "welcome"}])
    return data_dir


def _refusals(con: duckdb.DuckDBPyConnection, outside: Path) -> dict[str, str]:
    """Each hostile statement and what DuckDB answered (every one must fail)."""
    secret = outside / "secret.key"
    secret.write_text("fernet-key")
    statements = {
        "read a file": f"SELECT * FROM read_blob('{secret}')",
        "read the environment": "SELECT * FROM read_text('/proc/self/environ')",
        "a replacement scan": f"SELECT * FROM '{secret}'",
        "write a file": f"COPY (SELECT 1) TO '{outside / 'out.csv'}'",
        "attach a file": f"ATTACH '{outside / 'other.duckdb'}' AS other",
        "install an extension": "INSTALL httpfs",
        "load an extension": "LOAD httpfs",
        "turn access back on": "SET enable_external_access = true",
        "widen the allowed dirs": "SET allowed_directories = ['/']",
        "unlock": "SET lock_configuration = false",
        "change a setting": "SET memory_limit = '64GB'",
        "getenv": "SELECT getenv('HOME')",
    }
    answers: dict[str, str] = {}
    for what, sql in statements.items():
        with pytest.raises(duckdb.Error) as refused:
            con.execute(sql)
        answers[what] = str(refused.value)
    return answers


def test_the_service_instance_refuses_files_extensions_and_settings(
    loaded: DataDir, tmp_path: Path
) -> None:
    con = open_warehouse(loaded)
    try:
        assert is_locked(con)
        _refusals(con.cursor(), tmp_path)
        assert not (tmp_path / "out.csv").exists()
        assert not (tmp_path / "other.duckdb").exists()
        setting = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert setting is not None and setting[0] != "64GB"
    finally:
        con.close()


def test_dlt_loads_into_the_locked_instance_while_it_is_held(loaded: DataDir) -> None:
    """A merge and a replace after the lockdown: dlt reads its packages under pipelines/."""
    with holding_warehouse(loaded) as held:
        assert is_locked(held)
        _load(loaded, [{"id": 1, "name": "renamed"}, {"id": 2, "name": "second"}])
        assert held.execute("SELECT count(*) FROM acme.campaigns").fetchone() == (3,)


def test_the_read_only_instance_refuses_the_same(loaded: DataDir, tmp_path: Path) -> None:
    con = open_read_only(loaded)
    try:
        assert is_locked(con)
        _refusals(con, tmp_path)
        with pytest.raises(duckdb.Error):
            con.execute("DROP TABLE acme.campaigns")
        assert con.execute("SELECT name FROM acme.campaigns").fetchall() == [("welcome",)]
    finally:
        con.close()


def test_read_only_queries_share_the_instance_this_process_writes(loaded: DataDir) -> None:
    with holding_warehouse(loaded):
        con = open_read_only(loaded)
        try:
            assert con.execute("SELECT count(*) FROM acme.campaigns").fetchone() == (1,)
        finally:
            con.close()


def test_the_memory_limit_setting_holds_on_the_locked_instance(
    loaded: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIO_WAREHOUSE_DUCKDB_MEMORY_LIMIT", "100MB")
    con = open_read_only(loaded)
    try:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None and row[0].replace(" ", "") in {"95.3MiB", "100.0MB"}, row
    finally:
        con.close()
