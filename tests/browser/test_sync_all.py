"""Sync all now on the source page: not clickable while a sync of the source runs (the page's own
or one started elsewhere), and a "did not start" banner goes once that sync is done."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import Latency, SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, api, link, wait_job


def test_sync_all_waits_for_a_running_sync_and_clears_its_refusal(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=["segments", *WEBHOOK_TABLES])
    page.goto("/sources/acme")
    sync_all = page.locator("#sync-all")
    expect(page.locator("#status-table tr[data-table=segments]")).to_have_attribute(
        "data-status", "succeeded"
    )
    expect(sync_all).to_be_enabled()

    # Another sync starts elsewhere (the scheduler, another tab) before this page has seen it.
    sandbox.set_faults([Latency(path="/v1/segments", ms=4000)])
    with api(served) as client:
        job = client.post("/sources/acme/sync", json={}).raise_for_status().json()
        sync_all.click()
        refusal = page.locator("#sync-error")
        expect(refusal).to_contain_text("The sync did not start")
        expect(sync_all).to_be_disabled()
        expect(sync_all).to_have_attribute("title", "A sync of this source is running: wait for it "
                                           "to finish.")
        shot(page, "25-source-sync-all-busy")
        wait_job(client, job["id"])
    sandbox.set_faults([])
    expect(refusal).to_have_count(0, timeout=15_000)
    expect(sync_all).to_be_enabled()

    # The page's own sync: disabled from the click until the outcome shows.
    sandbox.set_faults([Latency(path="/v1/segments", ms=2000)])
    sync_all.click()
    expect(sync_all).to_be_disabled()
    expect(page.locator(".job-done")).to_contain_text("Synced 1 of 1 tables", timeout=60_000)
    expect(sync_all).to_be_enabled()
