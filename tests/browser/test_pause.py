"""Pausing a source from its page: no sync runs, webhook deliveries are still acknowledged and
wait in the inbox, and Resume loads them; nothing is lost."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, api, deliver, link, query
from tests.helpers import wait_until


def event_rows(served: Served) -> int:
    tables = [t.name for t in catalog.EVENT_TABLES if t.name in WEBHOOK_TABLES]
    sql = " union all ".join(f"select count(*) as n from acme.{t}" for t in tables)
    [[total]] = query(served, f"select sum(n) from ({sql})")
    return int(total)


def health(served: Served) -> dict[str, Any]:
    with api(served) as client:
        found: dict[str, Any] = client.get("/sources/acme/webhook").raise_for_status().json()
    return found["health"]


def test_pause_keeps_deliveries_in_the_inbox_and_resume_loads_them(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=["segments", *WEBHOOK_TABLES])
    deliver(served, sandbox, 5)
    before = event_rows(served)
    page.goto("/sources/acme")
    page.click("#pause-toggle")
    expect(page.locator("#paused-banner")).to_contain_text("no sync runs")
    expect(page.locator("#pause-toggle")).to_have_text("Resume")
    expect(page.locator("#sync-all")).to_be_disabled()
    row = page.locator("#status-table tr[data-table=segments]")
    expect(row.get_by_role("button", name="Sync now")).to_be_disabled()
    with api(served) as client:
        refused = client.post("/sources/acme/sync", json={})
        assert refused.status_code == 409 and "paused" in refused.json()["error"]

    # Customer.io keeps delivering: every delivery is acknowledged and stored, none loaded.
    stored = health(served)["stored"]
    delivered = sum(s.delivered for s in sandbox.delivery_stats().values())
    sandbox.send(30)
    assert sandbox.wait_delivered(60), sandbox.delivery_stats()
    new = sum(s.delivered for s in sandbox.delivery_stats().values()) - delivered
    wait_until(lambda: health(served)["stored"] >= stored + new, "the deliveries to be stored",
               30, interval=0.2)
    assert health(served)["backlog"] == new
    assert event_rows(served) == before
    page.goto("/sources")
    expect(page.locator("#sources-table tr[data-source=acme] td").nth(5)).to_have_text("paused")
    page.goto("/sources/acme")
    expect(page.locator("#wh-backlog")).to_have_text(str(new))
    shot(page, "30-source-paused")

    page.click("#pause-toggle")
    expect(page.locator("#paused-banner")).to_have_count(0)
    expect(page.locator("#pause-toggle")).to_have_text("Pause")
    wait_until(lambda: health(served)["backlog"] == 0, "the waiting events to load", 60,
               interval=0.2)
    assert event_rows(served) == before + new
    expect(page.locator("#sync-all")).to_be_enabled()
