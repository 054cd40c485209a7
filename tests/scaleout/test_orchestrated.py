"""Syncs from an orchestrator instead of the built-in scheduler: `serve --no-scheduler` starts no
sync of its own, and `cio-warehouse sync`, as cron or an Airflow/Dagster task runs it, goes
through the running service and exits 0 (1 when a table failed)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import StateStore
from tests.helpers import ServeProcess, add_source, run_cli

pytestmark = pytest.mark.timeout(120)


def test_no_scheduler_and_sync_from_outside(
    store: StateStore, sandbox: SandboxServer, api_key: str
) -> None:
    source = add_source(store, sandbox, api_key, max_rps=0)
    store.update_source(replace(source, tables=("segments", "email_events")))
    # The service holds the DuckDB file (its event loader made email_events): a sync that did
    # not go through it would find the file locked.
    serve = ServeProcess(store.data_dir, None, None, "--no-scheduler").start()
    try:
        time.sleep(2)  # a scheduler would start the never-synced table at once
        assert store.runs("acme") == []
        result = run_cli(store.data_dir, "sync", "acme")
        assert result.code == 0, result.output
        assert [(r.table, r.status) for r in store.runs("acme")] == [("segments", "succeeded")]
    finally:
        serve.stop()
