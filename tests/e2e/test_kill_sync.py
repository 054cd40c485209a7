"""kill -9 of a real `cio-warehouse sync` at any moment leaves every table whole: the previous
rows or the new ones, never an empty, half or mixed table."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace

import duckdb

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from tests.helpers import CLI, add_source, run_cli

TABLES = ("newsletters", "sender_identities", "campaigns", "segments")
OLD = Workspace.preset("small", seed=5, newsletters=3_000, sender_identities=1_000)
NEW = Workspace.preset("small", seed=6, newsletters=8_000, sender_identities=4_000, campaigns=90)


def _tables(store: StateStore) -> dict[str, tuple[int, int]]:
    """Rows and distinct loads per table (a mixed table would show two loads)."""
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    try:
        found = {}
        for table in TABLES:
            row = con.execute(
                f"select count(*), count(distinct _dlt_load_id) from acme.{table}"
            ).fetchone()
            assert row is not None
            found[table] = (row[0], row[1])
        return found
    finally:
        con.close()


def _sync_args(store: StateStore) -> list[str]:
    args = [str(CLI), "--data-dir", str(store.data_dir.root), "sync", "acme"]
    return args + [a for t in TABLES for a in ("--table", t)]


def test_kill_nine_mid_sync_leaves_tables_whole(store: StateStore, api_key: str) -> None:
    with SandboxServer(OLD, api_key=api_key, rate_limit_rps=None) as old:
        add_source(store, old, api_key, max_rps=0)
        assert run_cli(store.data_dir, *_sync_args(store)[3:]).code == 0
    old_counts = {t: OLD.expected_rows(t) for t in TABLES}
    new_counts = {t: NEW.expected_rows(t) for t in TABLES}
    assert _tables(store) == {t: (n, 1) for t, n in old_counts.items()}

    with SandboxServer(NEW, api_key=api_key, rate_limit_rps=None, latency_ms=5) as new:
        source = store.get_source("acme")
        store.update_source(replace(source, api_base_url=new.url, app_api_key=Secret(api_key)))
        env = {k: v for k, v in os.environ.items() if k != "CIO_APP_API_KEY"}

        # How long an undisturbed sync takes here, so that kills land across all its phases.
        started = time.monotonic()
        probe = subprocess.Popen(_sync_args(store), env=env, stdout=subprocess.DEVNULL)
        probe.wait(timeout=180)
        duration = time.monotonic() - started
        assert probe.returncode == 0
        # Put the old rows back through a sync of the old workspace for the kill rounds.
        with SandboxServer(OLD, api_key=api_key, rate_limit_rps=None) as old:
            store.update_source(replace(source, api_base_url=old.url))
            assert run_cli(store.data_dir, *_sync_args(store)[3:]).code == 0
        store.update_source(replace(source, api_base_url=new.url))

        for fraction in (0.3, 0.5, 0.65, 0.75, 0.85, 0.95):
            proc = subprocess.Popen(_sync_args(store), env=env, stdout=subprocess.DEVNULL)
            time.sleep(duration * fraction)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            found = _tables(store)
            for table in TABLES:
                rows, loads = found[table]
                assert loads == 1, (fraction, table, found[table])
                assert rows in (old_counts[table], new_counts[table]), (fraction, table, rows)

        statuses = {r.status for r in store.runs("acme", limit=500)}
        assert "interrupted" in statuses  # a killed run is recorded as such, not as running
        # After the kills a normal sync completes and brings the new rows.
        assert run_cli(store.data_dir, *_sync_args(store)[3:]).code == 0
        assert _tables(store) == {t: (n, 1) for t, n in new_counts.items()}
