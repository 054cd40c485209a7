"""The Sources list: each source's worst state, the same verdict its own page shows."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, link


def test_rejected_deliveries_show_in_the_list_as_on_the_page(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    sandbox.send(2)
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
