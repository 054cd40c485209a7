"""Delivery funnels on the data page: an empty state for a source with no deliveries, and stages
counted as "reached at least this stage", as the caption says."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, deliver, link

STAGES = ("sent", "delivered", "opened", "clicked")


def test_no_deliveries_is_an_empty_state_then_stages_never_grow(
    sandbox: SandboxServer, page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=["campaigns", *WEBHOOK_TABLES])
    page.goto("/data?source=acme")
    expect(page.locator("#funnel-caption")).to_contain_text("reached at least each stage")
    empty = page.locator("#funnels-empty")
    expect(empty).to_contain_text("No campaign deliveries yet")
    campaigns = workspace.expected_rows("campaigns")
    expect(empty).to_contain_text(f"{campaigns:,} campaigns are known, none with a delivery yet")
    expect(page.locator("#funnel-table")).to_have_count(0)
    shot(page, "27-data-funnels-empty", page.locator("#funnel-panel"))

    deliver(served, sandbox, 300)
    page.reload()
    rows = page.locator("#funnel-table tbody tr")
    expect(rows.first).to_be_visible()
    expect(empty).to_have_count(0)
    for row in rows.all():
        counts = [
            int(row.locator(f"td[data-metric={stage}]").inner_text().split()[0].replace(",", ""))
            for stage in STAGES
        ]
        assert counts == sorted(counts, reverse=True), (row.get_attribute("data-id"), counts)
    assert any(
        int(row.locator("td[data-metric=sent]").inner_text().split()[0].replace(",", "")) > 0
        for row in rows.all()
    )
