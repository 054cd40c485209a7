"""The "Link a source" wizard in a real browser, against the sandbox over HTTP and the real
`cio-warehouse serve`: from an empty data dir to synced tables, then webhook events on the data
page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.browser.conftest import Served, shot
from tests.helpers import wait_until

API_TABLES = [t.name for t in catalog.API_TABLES]


def fill_credentials(page: Page, name: str, key: str, region: str, base_url: str) -> None:
    page.fill("#name", name)
    page.fill("#app_api_key", key)
    page.select_option("#region", region)
    page.click("#advanced summary")
    page.fill("#api_base_url", base_url)


def test_wizard_from_an_empty_data_dir_to_synced_tables_and_events(
    sandbox: SandboxServer, page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    # Sources: the empty state says what to do.
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()
    shot(page, "01-sources-empty")
    page.click("#new-source")
    expect(page.locator("#connector-customerio")).to_be_visible()
    shot(page, "02-new-source")
    page.click("#connector-customerio")

    # Step 1: key (a password field) and region, with captions; Next checks the key.
    expect(page.locator("#app_api_key")).to_have_attribute("type", "password")
    expect(page.locator("#key-caption")).to_contain_text("API Credentials > App API Keys")
    expect(page.locator("#region option")).to_have_text(["US", "EU"])
    page.select_option("#region", "eu")
    expect(page.locator("#region-host")).to_have_text("api-eu.customer.io")
    fill_credentials(page, "acme", api_key, "us", sandbox.url)
    expect(page.locator("#region-host")).to_have_text("api.customer.io")
    shot(page, "03-step1-credentials")
    page.click("#next")

    # Step 2: the webhook is registered at once (disabled), its URL is shown.
    page.wait_for_url("**/sources/acme/setup/webhook")
    expect(page.locator("#register-summary")).to_contain_text("disabled until its signing key")
    webhook_url = f"{served.webhook_base}/webhooks/customerio/acme"
    expect(page.locator("#webhook-url")).to_have_value(webhook_url)
    expect(page.locator("#key-caption")).to_contain_text(
        "Data & Integrations > Integrations > Reporting Webhooks"
    )
    [hook] = sandbox.webhooks()
    assert hook["endpoint"] == webhook_url and hook["disabled"] is True
    shot(page, "04-step2-webhook-registered")

    # The user copies the signing key from Customer.io; saving it enables the webhook.
    page.fill("#signing_key", sandbox.signing_key(hook["id"]))
    page.click("#save-key")
    expect(page.locator("#key-saved")).to_contain_text(f"webhook {hook['id']} enabled")
    expect(page.locator("#signing_key")).to_have_value("")
    assert sandbox.webhooks()[0]["disabled"] is False
    shot(page, "05-step2-signing-key-saved")
    page.click("#next")

    # Step 3: the catalog's tables, their descriptions and sync method; frequency 6 h default.
    page.wait_for_url("**/sources/acme/setup/tables")
    boxes = page.locator("input[name=tables]")
    expect(boxes).to_have_count(len(catalog.TABLES))
    for table in catalog.TABLES:
        row = page.locator(f"tr[data-table={table.name}]")
        expect(row).to_contain_text(table.description)
        expect(row).to_contain_text({catalog.SyncMethod.FULL_REFRESH: "Full refresh",
                                     catalog.SyncMethod.INCREMENTAL: "Incremental",
                                     catalog.SyncMethod.WEBHOOK: "Webhook"}[table.sync_method])
    expect(page.locator("#frequency")).to_have_value("21600")
    expect(page.locator("#frequency option")).to_have_text(
        ["5 minutes", "30 minutes", "1 hour", "6 hours (default)", "12 hours", "24 hours",
         "7 days", "30 days"]
    )
    page.uncheck("input[value=collections]")
    page.select_option("#frequency", "43200")
    shot(page, "06-step3-tables")
    page.click("#import")

    # The source page: live progress, then every selected API table synced with its rows.
    page.wait_for_url(re.compile(r"/sources/acme\?job=\d+$"))
    shot(page, "07-source-syncing")
    expect(page.locator(".job-done")).to_contain_text("Synced 9 of 9 tables", timeout=120_000)
    for table in API_TABLES:
        row = page.locator(f"#status-table tr[data-table={table}]")
        if table == "collections":
            expect(row).to_have_count(0)
            continue
        expect(row).to_have_attribute("data-status", "succeeded")
        expect(row.locator(".rows-cell")).to_have_text(f"{workspace.expected_rows(table):,}")
    expect(page.locator("#source-summary")).to_contain_text("every 12 hours")
    expect(page.locator("#runs-list tbody tr")).to_have_count(9)
    expect(page.locator("#wh-enabled")).to_have_text("yes")
    shot(page, "08-source-synced")
    page.goto("/sources")
    listed = page.locator("#sources-table tr[data-source=acme]")
    expect(listed).to_contain_text("every 12 hours")
    expect(listed).to_contain_text("enabled")
    expect(listed).to_contain_text("ok")
    shot(page, "08b-sources-list")

    # Customer.io delivers signed events; they show on the data page.
    sandbox.send(300)
    assert sandbox.wait_delivered(30)
    stats = sandbox.delivery_stats()[hook["id"]]
    assert stats.delivered > 0
    page.goto("/data?source=acme")
    email = page.locator(".chart-card[data-channel=email]")

    def charted() -> bool:
        if email.count():
            return True
        page.reload()
        return False

    wait_until(charted, "the email chart on the data page", 15, interval=0.5)
    expect(email.locator("svg .series").first).to_be_visible()
    shot(page, "09-data-activity")
