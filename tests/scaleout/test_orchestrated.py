"""Syncs from an orchestrator instead of the built-in scheduler: `serve --no-scheduler` starts no
sync of its own, and `cio-warehouse sync`, as cron or an Airflow/Dagster task runs it, goes
through the running service and exits 0 (1 when a table failed)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.service.runtime import ServeSettings, Service
from cio_warehouse.state import StateStore
from tests.helpers import add_source, free_port, run_cli

pytestmark = pytest.mark.timeout(120)


def test_no_scheduler_and_sync_from_outside(
    store: StateStore, sandbox: SandboxServer, api_key: str
) -> None:
    source = add_source(store, sandbox, api_key, max_rps=0)
    store.update_source(replace(source, tables=("segments", "email_events")))
    service = Service(store.data_dir, ServeSettings(port=free_port(), webhook_port=free_port(),
                                                    scheduler=False))
    try:
        service.start()
        assert not service.scheduler.running  # a never-synced table would start at once
        assert store.runs("acme") == []
        result = run_cli(store.data_dir, "sync", "acme")
        assert result.code == 0, result.output
        assert [(r.table, r.status) for r in store.runs("acme")] == [("segments", "succeeded")]
    finally:
        service.close()
