"""The webhook missed deliveries that message history has: one firing message from a running
service, read through its warehouse (the gapped stream of tests/gapped_stream.py)."""

from __future__ import annotations

import re

import pytest

from cio_warehouse import webhook_links
from cio_warehouse.ops import alerts
from cio_warehouse.sandbox import Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.service.runtime import ServeSettings, Service
from cio_warehouse.state import StateStore
from tests.alerts.endpoints import HttpEndpoint
from tests.gapped_stream import deliver_with_a_gap, gapped_sandbox
from tests.helpers import EVENT_TABLES, add_source, free_port, wait_until

pytestmark = pytest.mark.timeout(240)


def test_missed_deliveries_fire_once(store: StateStore, workspace: Workspace, api_key: str,
                                     endpoint: HttpEndpoint) -> None:
    with gapped_sandbox(workspace, api_key) as sandbox:
        add_source(store, sandbox, api_key, tables=(*EVENT_TABLES, "messages"), history_days=3)
        alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
        port = free_port()
        webhook_links.register(store, "acme", f"http://127.0.0.1:{port}")
        [hook] = sandbox.webhooks()
        webhook_links.save_signing_key(store, "acme", Secret(sandbox.signing_key(hook["id"])))
        # No scheduler: messages is synced below, once the stream has its gap.
        service = Service(store.data_dir, ServeSettings(port=free_port(), webhook_port=port,
                                                        scheduler=False))
        service.alerts.tick_seconds = 0.2
        service.alerts.missed_every = 0.0  # look at every tick (serve: every 10 minutes)
        try:
            service.start()
            deliver_with_a_gap(sandbox)
            delivered = sum(s.delivered for s in sandbox.delivery_stats().values())

            def loaded() -> bool:
                opened = service.inbox.open()
                try:
                    health = opened.health("acme")
                finally:
                    opened.close()
                return health.backlog == 0 and health.counters.get("stored", 0) >= delivered

            wait_until(loaded, "the deliveries to reach the warehouse", 60, interval=0.2)
            job = service.scheduler.trigger("acme", ["messages"])
            wait_until(lambda: job.done, "the history sync", 120, interval=0.2)
            wait_until(lambda: [b for b in endpoint.bodies("/h") if b["kind"] == "missed"],
                       "the missed-deliveries alert", 60, detail=lambda: endpoint.received)
            service.alerts.tick()  # and once more: nothing new
        finally:
            service.close()
    [missed] = [b for b in endpoint.bodies("/h") if b["kind"] == "missed"]
    assert missed["state"] == "firing" and missed["source"] == "acme" and missed["table"] is None
    assert re.search(r"The webhook of acme missed \d+ deliveries on \d+ day\(s\) of the last week",
                     missed["message"])
    assert [b["kind"] for b in endpoint.bodies("/h")] == ["missed"]
