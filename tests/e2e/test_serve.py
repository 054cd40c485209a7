"""`cio-warehouse serve` as a user runs it: the CLI goes through it, signed deliveries become
rows within seconds, and Ctrl-C loads every acknowledged event before exiting."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from tests.helpers import EVENT_TABLES, ServeProcess, add_source, cio_sign, run_cli, wait_until

SIGNING_KEY = "9a8b7c6d5e4f30211f2e3d4c5b6a79881726354453627180a9b8c7d6e5f40312"


def _event(n: int, object_type: str = "email", metric: str = "delivered") -> bytes:
    """Shaped like the spec's email_sent example: event_id, object_type, metric, timestamp, data."""
    return json.dumps({
        "event_id": f"01JSERVE{n:018d}",
        "object_type": object_type,
        "metric": metric,
        "timestamp": 1700000000 + n,
        "data": {"delivery_id": f"dlv{n}", "campaign_id": 7, "action_id": 3,
                 "identifiers": {"id": str(n), "email": f"p{n}@example.com", "cio_id": f"c{n}"},
                 "recipient": f"p{n}@example.com"},
    }).encode()


def _deliver(client: httpx.Client, serve: ServeProcess, body: bytes, key: str = SIGNING_KEY
             ) -> httpx.Response:
    ts = str(int(time.time()))
    return client.post(
        f"{serve.webhook_base}/webhooks/customerio/acme", content=body,
        headers={"X-CIO-Timestamp": ts, "X-CIO-Signature": cio_sign(key, ts, body),
                 "Content-Type": "application/json"},
    )


@pytest.fixture
def served(store: StateStore, sandbox: SandboxServer, api_key: str) -> Iterator[ServeProcess]:
    source = add_source(store, sandbox, api_key, tables=EVENT_TABLES)
    store.update_source(replace(source, signing_key=Secret(SIGNING_KEY)))
    serve = ServeProcess(store.data_dir).start()
    yield serve
    serve.stop()


def _query_json(store: StateStore, sql: str) -> list[dict[str, object]]:
    result = run_cli(store.data_dir, "query", sql, "--format", "json")
    assert result.code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_cli_goes_through_the_running_service(served: ServeProcess, store: StateStore,
                                              workspace) -> None:
    synced = run_cli(store.data_dir, "sync", "acme", "--table", "campaigns")
    assert synced.code == 0, synced.output
    assert "1 of 1 tables synced" in synced.stdout
    rows = _query_json(store, "select count(*) as n from acme.campaigns")
    assert rows == [{"n": workspace.expected_rows("campaigns")}]
    refused = run_cli(store.data_dir, "query", "delete from acme.campaigns")
    assert refused.code == 1 and "read-only" in refused.stderr


def test_signed_deliveries_become_rows_once(served: ServeProcess, store: StateStore) -> None:
    with httpx.Client(timeout=10) as client:
        for n in range(20):
            assert _deliver(client, served, _event(n)).status_code == 200
        assert _deliver(client, served, _event(3)).status_code == 200  # a retry: same event_id
        assert _deliver(client, served, _event(99), key="wrong" * 8).status_code == 401
        pref = _event(50, object_type="email", metric="cio_subscription_preferences_changed")
        assert _deliver(client, served, pref).status_code == 200
    rows: list[dict[str, object]] = []

    def loaded() -> bool:
        nonlocal rows
        try:
            rows = _query_json(store, "select count(*) as n, count(distinct event_id) as d"
                                      " from acme.email_events")
        except AssertionError:  # the table does not exist before the first load
            rows = []
        return bool(rows) and rows[0]["n"] == 20

    wait_until(loaded, "20 events in the warehouse", 20, interval=0.25, detail=lambda: rows)
    assert rows == [{"n": 20, "d": 20}]
    customer = _query_json(store, "select metric, object_type from acme.customer_events")
    assert customer == [{"metric": "cio_subscription_preferences_changed", "object_type": "email"}]
    assert _query_json(store, "select count(*) as n from acme.email_events where event_id ="
                              " '01JSERVE000000000000000099'") == [{"n": 0}]


def test_ctrl_c_loads_every_acknowledged_event(store: StateStore, sandbox: SandboxServer,
                                               api_key: str) -> None:
    source = add_source(store, sandbox, api_key, tables=EVENT_TABLES)
    store.update_source(replace(source, signing_key=Secret(SIGNING_KEY)))
    serve = ServeProcess(store.data_dir).start()
    acked = 0
    with httpx.Client(timeout=10) as client:
        for n in range(300):
            acked += _deliver(client, serve, _event(1000 + n)).status_code == 200
    output = serve.stop()
    assert "acknowledged events loaded, none left in the inbox" in output
    assert not store.data_dir.service_file.exists()
    # The service is gone: the CLI opens the warehouse itself now.
    rows = _query_json(store, "select count(distinct event_id) as n from acme.email_events")
    assert acked == 300 and rows == [{"n": 300}]
