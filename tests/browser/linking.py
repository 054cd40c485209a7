"""Set a source up through the JSON API (bearer admin token), for tests whose subject is a page
after the wizard: the wizard itself is driven in the browser by test_wizard."""

from __future__ import annotations

from typing import Any

import httpx

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served
from tests.helpers import send_deliveries, wait_until


def api(served: Served) -> httpx.Client:
    return httpx.Client(
        base_url=served.url("/api/v1"),
        headers={"Authorization": f"Bearer {served.admin_token}"},
        timeout=60,
    )


def wait_job(client: httpx.Client, job_id: int, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").raise_for_status().json()
        return job if job["finished_at"] is not None else None

    return wait_until(finished, f"job {job_id} to finish", timeout, interval=0.2)


WEBHOOK_TABLES = [t.name for t in catalog.WEBHOOK_TABLES]


def link(
    served: Served, sandbox: SandboxServer, api_key: str, name: str = "acme", *,
    tables: list[str] | None = None, sync: bool = True,
) -> int:
    """Link (every table, or `tables`), register the webhook, store its signing key (enabling
    it), sync the API tables; the webhook id. The scheduler syncs a never-synced API table at
    its next tick: link without API tables when a test wants none synced."""
    with api(served) as client:
        client.post("/sources", json={
            "name": name, "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
            **({} if tables is None else {"tables": tables}),
        }).raise_for_status()
        registered = client.post(f"/sources/{name}/webhook/register", json={}).raise_for_status()
        webhook_id = int(registered.json()["webhook"]["id"])
        client.put(f"/sources/{name}/webhook/signing-key",
                   json={"signing_key": sandbox.signing_key(webhook_id)}).raise_for_status()
        if sync:
            job = client.post(f"/sources/{name}/sync", json={}).raise_for_status().json()
            done = wait_job(client, job["id"])
            assert done["error"] is None and all(
                o["status"] == "succeeded" for o in done["outcomes"]
            ), done
    return webhook_id


def deliver(served: Served, sandbox: SandboxServer, events: int, name: str = "acme") -> int:
    """Stream `events` signed deliveries from the sandbox's sender; wait until they are rows."""
    send_deliveries(sandbox, events)
    assert sandbox.wait_delivered(60), sandbox.delivery_stats()
    delivered = sum(s.delivered for s in sandbox.delivery_stats().values())
    with api(served) as client:
        health: dict[str, Any] = {}

        def loaded() -> bool:
            nonlocal health
            health = client.get(f"/sources/{name}/webhook").raise_for_status().json()["health"]
            return bool(health["backlog"] == 0 and health["stored"] >= delivered)

        wait_until(loaded, "the deliveries to reach the warehouse", 30, interval=0.2,
                   detail=lambda: health)
    return delivered


def query(served: Served, sql: str) -> list[list[Any]]:
    with api(served) as client:
        rows: list[list[Any]] = client.post("/query", json={"sql": sql}).raise_for_status().json()[
            "rows"
        ]
    return rows
