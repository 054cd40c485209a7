"""`status` as cron or a monitor uses it: exit 0 when healthy, 3 when a selected table's last
sync failed or the webhook is failing (the reasons on the last line)."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from tests.helpers import EVENT_TABLES, ServeProcess, add_source, cio_sign, run_cli

SIGNING_KEY = "5e4f30211f2e3d4c5b6a798817263544536271809a8b7c6d5e4f30211f2e3d4c"


def test_a_failed_table_is_exit_3(store: StateStore, workspace: Workspace, api_key: str) -> None:
    with SandboxServer(workspace, api_key=api_key, forbidden_paths=["/v1/segments"]) as sandbox:
        add_source(store, sandbox, api_key, tables=("campaigns", "segments"))
        assert run_cli(store.data_dir, "sync", "acme").code == 1
    status = run_cli(store.data_dir, "status", "acme")
    assert status.code == 3, status.output
    last = status.stdout.strip().splitlines()[-1]
    assert last == ("Unhealthy: 1 of the selected tables failed their last sync (segments) "
                    "(exit 3)."), status.stdout


def test_a_healthy_source_is_exit_0(store: StateStore, sandbox: SandboxServer,
                                    api_key: str) -> None:
    add_source(store, sandbox, api_key, tables=("campaigns",))
    assert run_cli(store.data_dir, "sync", "acme").code == 0
    status = run_cli(store.data_dir, "status", "acme")
    assert status.code == 0, status.output
    assert "Unhealthy" not in status.stdout


def test_a_failing_webhook_is_exit_3(store: StateStore, sandbox: SandboxServer,
                                     api_key: str) -> None:
    source = add_source(store, sandbox, api_key, tables=EVENT_TABLES)
    store.update_source(replace(source, signing_key=Secret(SIGNING_KEY)))
    serve = ServeProcess(store.data_dir).start()
    try:
        assert run_cli(store.data_dir, "status", "acme").code == 0  # waiting for deliveries
        with httpx.Client(timeout=10) as client:
            for n in range(3):  # signed with another key, as after a key rotation gone wrong
                body = b'{"event_id": "01JSTATUS%018d", "object_type": "email"}' % n
                ts = str(int(time.time()))
                answer = client.post(
                    f"{serve.webhook_base}/webhooks/customerio/acme", content=body,
                    headers={"X-CIO-Timestamp": ts, "X-CIO-Signature": cio_sign("x" * 64, ts, body),
                             "Content-Type": "application/json"})
                assert answer.status_code == 401
        status = run_cli(store.data_dir, "status", "acme")
    finally:
        serve.stop()
    assert status.code == 3, status.output
    assert "The last 3 deliveries were rejected" in " ".join(status.stdout.split())
    assert status.stdout.strip().splitlines()[-1] == "Unhealthy: the webhook is failing (exit 3)."
