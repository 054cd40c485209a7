"""The state store keeps sources and runs, and never keeps a secret in clear text."""

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateError, StateStore
from cio_warehouse.state.sync_marks import SyncMark

KEY = "app-key-" + "c0ffee" * 6


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(DataDir(tmp_path / "data"))


def _source(name: str = "acme") -> SourceConfig:
    return SourceConfig(name=name, region="eu", app_api_key=Secret(KEY), tables=("campaigns",))


def test_round_trip_and_secret_encrypted_at_rest(store: StateStore) -> None:
    store.add_source(_source())
    loaded = store.get_source("acme")
    assert loaded.app_api_key.reveal() == KEY
    assert loaded.region == "eu" and loaded.tables == ("campaigns",)
    for path in store.data_dir.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_key_file_is_private(store: StateStore) -> None:
    mode = stat.S_IMODE(os.stat(store.data_dir.secret_key_file).st_mode)
    assert mode == 0o600


def test_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert KEY not in repr(_source())


def test_duplicate_and_unknown_sources_are_clear_errors(store: StateStore) -> None:
    store.add_source(_source())
    with pytest.raises(StateError, match="already exists"):
        store.add_source(_source())
    with pytest.raises(StateError, match="No source named 'other'.*acme"):
        store.get_source("other")


def test_runs_are_recorded(store: StateStore) -> None:
    run_id = store.start_run("acme", "campaigns")
    assert store.last_runs("acme")["campaigns"].status == "running"
    store.finish_run(run_id, status="succeeded", rows=3, pages=1, retries=0)
    run = store.last_runs("acme")["campaigns"]
    assert (run.status, run.rows) == ("succeeded", 3)
    assert run.duration is not None and run.duration >= 0


def test_run_of_a_dead_process_becomes_interrupted(store: StateStore) -> None:
    import sqlite3

    run_id = store.start_run("acme", "campaigns")
    with sqlite3.connect(store.data_dir.state_db) as db:
        db.execute("UPDATE runs SET pid = 2147483646 WHERE id = ?", (run_id,))
    assert store.last_runs("acme")["campaigns"].status == "interrupted"


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").create()
    data_dir.state_db.write_bytes(b"this is not a sqlite file" * 100)
    with pytest.raises(StateError, match="unreadable|could not be used"):
        StateStore(data_dir)


def test_wrong_secret_key_is_a_clear_error(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data")
    StateStore(data_dir).add_source(_source())
    data_dir.secret_key_file.unlink()
    with pytest.raises(StateError, match="cannot be decrypted"):
        StateStore(data_dir).get_source("acme")


def test_a_schema_4_state_keeps_its_sync_marks_and_gains_synced_from(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path).create()
    StateStore(data_dir).set_sync_mark("acme", "messages", "synced_until", 100.0)
    with sqlite3.connect(data_dir.state_db) as db:  # the table as schema 4 had it
        db.execute("ALTER TABLE sync_marks DROP COLUMN synced_from")
        db.execute("PRAGMA user_version = 4")
    store = StateStore(data_dir)
    assert store.sync_mark("acme", "messages") == SyncMark(100.0, None, None)
    store.set_sync_mark("acme", "messages", "synced_from", 50.0)
    assert store.sync_mark("acme", "messages").synced_from == 50.0
