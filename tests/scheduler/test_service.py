"""The service starts its scheduler with it and stops it first when it closes."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.service.runtime import ServeSettings, Service
from cio_warehouse.state import StateStore
from tests.helpers import add_source, free_port, wait_until

pytestmark = pytest.mark.timeout(90)


def test_the_service_syncs_a_never_synced_table_and_stops_its_scheduler_on_close(
    store: StateStore, sandbox: SandboxServer, api_key: str
) -> None:
    source = add_source(store, sandbox, api_key, max_rps=0)
    store.update_source(replace(source, tables=("segments", "email_events")))
    service = Service(store.data_dir, ServeSettings(port=free_port(), webhook_port=free_port()))
    try:
        service.start()
        assert service.scheduler.running
        wait_until(lambda: [r.status for r in store.runs("acme")] == ["succeeded"],
                   "the first run to succeed", 60, detail=lambda: store.runs("acme"))
        assert service.scheduler.next_runs("acme")["segments"] > time.time() + 5 * 3600
    finally:
        service.close()
    assert not service.scheduler.running
    assert service.scheduler.tick() == []
    assert [r.table for r in store.runs("acme")] == ["segments"]
