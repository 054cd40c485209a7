"""The Sources list and the source page: each source's worst state (the same verdict in both), and
fix instructions that name the source as code."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, api, link
from tests.helpers import send_deliveries


def test_rejected_deliveries_show_in_the_list_as_on_the_page(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    send_deliveries(sandbox, 2)
    assert sandbox.wait_delivered(30)
    page.goto("/sources")
    row = page.locator("#sources-table tr[data-source=acme]")
    expect(row.locator("td").nth(4)).to_have_text("enabled")
    expect(row.locator("td").nth(5)).not_to_contain_text("failing")

    # Deliveries signed with another key: the page raises its loud banner, the list says so too.
    sandbox.send(4, mode="bad_signature")
    assert sandbox.wait_delivered(30)
    page.goto("/sources/acme")
    expect(page.locator("#webhook-alarm")).to_contain_text(
        "Webhook deliveries are failing", timeout=30_000
    )
    page.goto("/sources")
    expect(row.locator("td").nth(4)).to_have_text("deliveries failing")
    expect(row.locator("td").nth(5)).to_have_text("webhook failing")
    expect(row.locator("td").nth(5).locator(".badge")).to_have_attribute(
        "title", re.compile(r"The last 4 deliveries were rejected")
    )
    shot(page, "24-sources-list-webhook-failing")


def test_fix_instructions_name_the_source_as_code(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    with api(served) as client:
        client.post("/sources", json={
            "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
            "tables": WEBHOOK_TABLES,
        }).raise_for_status()
        client.post("/sources/acme/webhook/register", json={}).raise_for_status()
    page.goto("/sources/acme")
    assessment = page.locator("#webhook-assessment")
    expect(assessment).to_contain_text("no signing key is stored")
    expect(assessment.locator("code")).to_have_text("cio-warehouse webhook signing-key acme")
    expect(assessment).not_to_contain_text("`")
    expect(assessment).not_to_contain_text("SOURCE")
