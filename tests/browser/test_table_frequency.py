"""Per-table sync frequency in the wizard's tables step and in a source's settings: what the
API's table_frequencies holds, chosen beside each scheduled table."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served
from tests.browser.linking import WEBHOOK_TABLES, api


def source(served: Served) -> dict[str, object]:
    with api(served) as client:
        found: dict[str, object] = client.get("/sources/acme").raise_for_status().json()
    return found


def test_a_table_frequency_chosen_in_the_wizard_then_changed_in_settings(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    with api(served) as client:
        client.post("/sources", json={
            "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
            "tables": WEBHOOK_TABLES,
        }).raise_for_status()
    page.goto("/sources/acme/setup/tables")
    segments = page.locator("select.table-frequency[data-table=segments]")
    expect(segments).to_have_value("")
    expect(page.locator("tr[data-table=email_events]")).to_contain_text("realtime")
    segments.select_option("3600")
    page.click("#import")
    page.wait_for_url("**/sources/acme?job=*")
    assert source(served)["table_frequencies"] == {"segments": 3600}

    page.goto("/sources/acme/settings")
    segments = page.locator("select.table-frequency[data-table=segments]")
    expect(segments).to_have_value("3600")
    segments.select_option("")
    page.select_option("select.table-frequency[data-table=campaigns]", "1800")
    page.click("#tables-form button[type=submit]")
    expect(page.locator("#tables-form .form-status")).to_contain_text("Saved")
    assert source(served)["table_frequencies"] == {"campaigns": 1800}
    page.reload()
    expect(page.locator("select.table-frequency[data-table=campaigns]")).to_have_value("1800")

    # An unselected table's select is off, as its other options are.
    page.uncheck("input[value=campaigns]")
    expect(page.locator("select.table-frequency[data-table=campaigns]")).to_be_disabled()

