"""Full refresh into Delta Lake, read back by engines other than ours: deltalake (delta-rs) and the
tests' own reading of the Delta log. Three syncs of every App API table: a first, a second (a
replace, not an append) and a failing third (the previous version stays the current one)."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from cio_warehouse import catalog
from cio_warehouse.sandbox import FailAlways, SandboxServer, Workspace
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.sync import TableOutcome
from cio_warehouse.sync.runner import run_sync
from cio_warehouse.warehouse import deliveries
from tests.helpers import add_source

from . import delta_log
from .conftest import SOURCE, read_delta, table_dir, use_delta, version

API_TABLES = [t.name for t in catalog.API_TABLES]
FAILING = "segments"


@dataclass
class Snapshot:
    """What one sync left: per table its Delta version, rows and latest commit."""

    outcomes: dict[str, TableOutcome]
    versions: dict[str, int] = field(default_factory=dict)
    rows: dict[str, pa.Table] = field(default_factory=dict)
    history: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Scenario:
    lake: Path
    workspace: Workspace
    first: Snapshot
    second: Snapshot
    failed: Snapshot


def _snapshot(lake: Path, outcomes: list[TableOutcome]) -> Snapshot:
    snap = Snapshot({o.table: o for o in outcomes})
    for table in API_TABLES:
        delta = DeltaTable(str(table_dir(lake, table)))
        snap.versions[table] = delta.version()
        snap.rows[table] = delta.to_pyarrow_table()
        snap.history[table] = delta.history(1)[0]
    return snap


@pytest.fixture(scope="module")
def workspace() -> Workspace:
    return Workspace.preset("small", seed=11)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, workspace: Workspace) -> Iterator[Scenario]:
    """Three syncs of the ten tables into one Delta location (a sync costs seconds)."""
    root = tmp_path_factory.mktemp("lakehouse")
    lake = root / "lake"
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(root / "data").create())
    with SandboxServer(workspace, api_key=key) as sandbox:
        # Retries stay on (a 429 from a busy machine is retried), bounded in time so that the
        # failing table gives up within seconds.
        source = add_source(store, sandbox, key, read_timeout=2.0, max_retry_seconds=5.0)
        use_delta(store, source, lake)
        first = _snapshot(lake, run_sync(store, SOURCE))
        second = _snapshot(lake, run_sync(store, SOURCE))
        sandbox.set_faults([FailAlways(path=f"/v1/{FAILING}", status=503)])
        failed = _snapshot(lake, run_sync(store, SOURCE))
    yield Scenario(lake, workspace, first, second, failed)


def test_every_sync_but_the_faulty_table_succeeds(scenario: Scenario) -> None:
    for snap in (scenario.first, scenario.second):
        assert {t: o.error for t, o in snap.outcomes.items() if o.error} == {}
    failed = scenario.failed.outcomes
    assert {t for t, o in failed.items() if o.status == "failed"} == {FAILING}
    assert failed[FAILING].error is not None
    assert "previous rows were kept" in failed[FAILING].error


@pytest.mark.parametrize("table", API_TABLES)
def test_table_reads_back_with_the_workspace_rows(scenario: Scenario, table: str) -> None:
    key = catalog.get(table).primary_key
    expected = list(scenario.workspace.rows(table, hidden=True))
    expected_ids = sorted(row[key] for row in expected)
    by_delta_rs = read_delta(scenario.lake, table)
    by_log = delta_log.read(table_dir(scenario.lake, table))
    for read in (by_delta_rs, by_log):
        assert read.num_rows == len(expected) == scenario.workspace.expected_rows(table)
        assert sorted(read.column(key).to_pylist()) == expected_ids


@pytest.mark.parametrize("table", API_TABLES)
def test_timestamps_are_timestamps_and_json_columns_parse(scenario: Scenario, table: str) -> None:
    entry = catalog.get(table)
    data = scenario.first.rows[table]
    loaded = {row[entry.primary_key]: row for row in data.to_pylist()}
    for field_name in entry.timestamp_fields:
        if field_name not in data.column_names:
            continue  # never set in this workspace: no column
        kind = data.schema.field(field_name).type
        assert pa.types.is_timestamp(kind) and kind.tz == "UTC", (field_name, kind)
    for row in scenario.workspace.rows(table, hidden=True):
        got = loaded[row[entry.primary_key]]
        for field_name in entry.timestamp_fields:
            if row.get(field_name) == 0:
                # Customer.io's "never" is NULL, not 1970-01-01 (docs/customerio-behaviour.md).
                assert got[field_name] is None, field_name
            elif row.get(field_name) is not None:
                # The API's unix seconds, as an instant.
                assert got[field_name] == datetime.fromtimestamp(row[field_name], UTC), field_name
        for field_name in entry.json_fields:
            value = row.get(field_name)
            if isinstance(value, str):
                # A string where JSON belongs (Customer.io's "nil" tags) has a variant column.
                assert got[f"{field_name}__v_text"] == value, field_name
            elif value is not None:
                # Arrow and Delta have no JSON type: the column holds the JSON text.
                assert isinstance(got[field_name], str), field_name
                assert json.loads(got[field_name]) == value, field_name


@pytest.mark.parametrize("table", API_TABLES)
def test_a_second_sync_replaces_in_one_overwrite_commit(scenario: Scenario, table: str) -> None:
    first, second = scenario.first, scenario.second
    assert second.versions[table] == first.versions[table] + 1  # one Delta commit per sync
    assert second.history[table]["operation"] == "WRITE"
    assert second.history[table]["operationParameters"]["mode"] == "Overwrite"
    assert second.rows[table].num_rows == first.rows[table].num_rows  # replaced, not appended
    load_ids = set(second.rows[table].column("_dlt_load_id").to_pylist())
    assert len(load_ids) == 1 and load_ids.isdisjoint(first.rows[table].column("_dlt_load_id"))
    # The same commit removes every file of the previous version and adds the new ones.
    commit = delta_log.commits(table_dir(scenario.lake, table))[second.versions[table]]
    previous = delta_log.commits(table_dir(scenario.lake, table))[: second.versions[table]]
    live_before = {a["path"] for c in previous for a in c.of("add")} - {
        r["path"] for c in previous for r in c.of("remove")
    }
    assert {r["path"] for r in commit.of("remove")} == live_before
    assert commit.of("add")


def test_a_failed_sync_leaves_the_previous_version_current(scenario: Scenario) -> None:
    second, failed = scenario.second, scenario.failed
    assert failed.versions[FAILING] == second.versions[FAILING]  # no commit at all
    assert failed.rows[FAILING].equals(second.rows[FAILING])
    for table in API_TABLES:
        if table != FAILING:
            assert failed.versions[table] == second.versions[table] + 1


def test_no_staging_copy_or_stray_dataset_is_left(scenario: Scenario) -> None:
    """Delta replaces in place (one commit): dlt's <dataset>_staging is not used on it."""
    assert sorted(p.name for p in scenario.lake.iterdir()) == [SOURCE]
    tables = {p.name for p in (scenario.lake / SOURCE).iterdir() if (p / "_delta_log").is_dir()}
    # The tables `deliveries` reads are there too, empty, from the first sync.
    assert tables == {*API_TABLES, *deliveries.BASE_TABLES}


def test_nothing_lands_in_the_data_dirs_duckdb_file(scenario: Scenario) -> None:
    """delta:///abs/path is the source's warehouse: the default DuckDB file is never made."""
    assert not DataDir(scenario.lake.parent / "data").warehouse.exists()


def _sync_sizes(tmp_path: Path, table: str, sizes: tuple[int, ...]) -> Iterator[Path]:
    """Sync `table` into Delta from a workspace holding each of `sizes` rows in turn; yields the
    lake after each sync, which succeeded with that many rows."""
    key = "sbx_" + secrets.token_hex(20)
    store = StateStore(DataDir(tmp_path / "data").create())
    lake = tmp_path / "lake"
    for rows in sizes:
        workspace = Workspace.preset("small", seed=3, **{table: rows})
        with SandboxServer(workspace, api_key=key) as sandbox:
            if SOURCE not in store.source_names():
                use_delta(store, add_source(store, sandbox, key, tables=(table,)), lake)
            else:
                store.update_source(
                    dataclasses.replace(store.get_source(SOURCE), api_base_url=sandbox.url)
                )
            outcomes = run_sync(store, SOURCE)
        assert [(o.status, o.rows) for o in outcomes] == [("succeeded", rows)]
        assert read_delta(lake, table).num_rows == rows
        yield lake


def test_a_table_that_became_empty_is_emptied_in_one_commit(tmp_path: Path) -> None:
    """Customer.io answers an empty list once the last snippet is deleted: the table must follow
    (dlt keeps a replaced table's rows when it is handed only empty pages)."""
    lakes = list(_sync_sizes(tmp_path, "snippets", (5, 0)))
    assert version(lakes[-1], "snippets") == 1


def test_a_table_with_no_rows_yet_is_an_empty_delta_table_that_takes_rows_later(
    tmp_path: Path,
) -> None:
    """Another engine can read a table Customer.io lists empty (0 rows, its key and timestamp
    columns), and the first rows land in that same table."""
    for lake in _sync_sizes(tmp_path, "collections", (0, 4)):
        columns = set(read_delta(lake, "collections").column_names)
        assert {"id", "created_at", "updated_at"} <= columns
    assert version(lake, "collections") == 1
