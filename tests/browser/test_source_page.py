"""The source page: Sync now per table with live progress and run history, a failed table's error
and what to do, the loud banner when deliveries fail, editing settings, and removing the source."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.browser.conftest import PageProblems, Served, logged_in_page, shot
from tests.browser.linking import WEBHOOK_TABLES, deliver, link
from tests.helpers import send_deliveries

# The sandbox comes first in each signature: set up before the service, stopped after it, so that
# a sync still running at the end never waits on a sandbox that is gone.

API_TABLES = len(catalog.API_TABLES)


def test_sync_now_per_table_then_all_with_run_history(
    sandbox: SandboxServer, page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    link(served, sandbox, api_key)
    page.goto("/sources/acme")
    row = page.locator("#status-table tr[data-table=segments]")
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#runs-list tbody tr")).to_have_count(API_TABLES)
    row.get_by_role("button", name="Sync now").click()
    expect(page.locator(".job-done")).to_contain_text("Synced 1 of 1 tables", timeout=60_000)
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row.locator(".rows-cell")).to_have_text(f"{workspace.expected_rows('segments'):,}")
    expect(page.locator("#runs-list tbody tr")).to_have_count(API_TABLES + 1)

    page.click("#sync-all")
    expect(page.locator("#job-panel")).to_be_visible()
    expect(page.locator("#job-progress .progress-item")).to_have_count(API_TABLES)
    shot(page, "18-source-sync-progress")
    expect(page.locator(".job-done").last).to_contain_text(
        f"Synced {API_TABLES} of {API_TABLES} tables", timeout=120_000
    )
    expect(page.locator("#job-panel")).to_be_hidden()
    expect(page.locator("#runs-list tbody tr")).to_have_count(2 * API_TABLES + 1)
    page.select_option("#runs-table", "segments")
    expect(page.locator("#runs-list tbody tr")).to_have_count(3)


def test_a_failed_table_shows_its_error_and_what_to_do(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key)
    # The key loses its scope for segments (the sandbox answers 403 from now on).
    sandbox.state.forbidden_paths = ("/v1/segments",)
    page.goto("/sources/acme")
    page.locator("#status-table tr[data-table=segments]").get_by_role(
        "button", name="Sync now"
    ).click()
    expect(page.locator("#alerts")).to_contain_text("segments failed", timeout=60_000)
    error = page.locator("tr[data-error-for=segments]")
    expect(error).to_contain_text("may not read segments (HTTP 403")
    expect(error).to_contain_text("give the key access to segments")
    expect(error).to_contain_text("What to do: fix the cause above, then click Sync now")
    expect(page.locator("#status-table tr[data-table=segments]")).to_have_attribute(
        "data-status", "failed"
    )
    shot(page, "19-source-table-failed")


def test_failing_deliveries_raise_a_loud_banner(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    send_deliveries(sandbox, 2)
    assert sandbox.wait_delivered(30)
    page.goto("/sources/acme")
    expect(page.locator("#wh-enabled")).to_have_text("yes")
    expect(page.locator("#wh-hour")).not_to_have_text("0", timeout=30_000)
    expect(page.locator("#webhook-alarm")).to_have_count(0)

    # Deliveries signed with another key: Customer.io would retry and hold the stream back.
    sandbox.send(4, mode="bad_signature")
    assert sandbox.wait_delivered(30)
    alarm = page.locator("#webhook-alarm")
    expect(alarm).to_contain_text("Webhook deliveries are failing", timeout=30_000)
    expect(alarm).to_contain_text("rejected")
    expect(page.locator("#wh-rejected")).to_contain_text("4")
    shot(page, "20-source-webhook-failing")


def test_edit_settings_and_remove_the_source(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    webhook_id = link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    page.goto("/sources/acme/settings")
    expect(page.locator("#app_api_key")).to_have_value("")
    expect(page.locator("#region")).to_have_value("us")

    # A replacement key is checked first; the error sits beside the key.
    page.fill("#app_api_key", "sbx_wrong")
    page.click("#connection-form button[type=submit]")
    expect(page.locator("#connection-form .field-error").first).to_contain_text(
        "rejected the App API key"
    )

    # Fewer event tables: the webhook subscribes to exactly the remaining ones.
    page.check("input[value=campaigns]")
    page.uncheck("input[value=email_events]")
    page.uncheck("input[value=push_events]")
    page.select_option("#frequency", "3600")
    page.click("#tables-form button[type=submit]")
    expect(page.locator("#tables-form .form-status")).to_contain_text("Saved")
    [hook] = sandbox.webhooks()
    assert not any(e.startswith(("email_", "push_")) for e in hook["events"])
    assert any(e.startswith("sms_") for e in hook["events"])
    expect(page.locator("#register-summary")).to_contain_text(
        f"subscribed to {len(hook['events'])} events"
    )
    shot(page, "21-source-settings")

    page.fill("#confirm-name", "acm")
    expect(page.locator("#remove-source")).to_be_disabled()
    page.fill("#confirm-name", "acme")
    page.click("#remove-source")
    page.wait_for_url("**/sources")
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()
    assert all(h["id"] != webhook_id for h in sandbox.webhooks())


def test_the_page_keeps_refreshing_after_a_failed_call(
    sandbox: SandboxServer, browser: Browser, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    problems = PageProblems()
    with logged_in_page(browser, served, problems) as page:
        page.goto("/sources/acme")
        expect(page.locator("#wh-stored")).to_have_text("0")

        # The service does not answer one of the page's calls for a while (a restart, a
        # dropped connection); deliveries arrive meanwhile.
        page.route("**/api/v1/sources/acme/tables", lambda route: route.abort())
        for _ in range(2):  # two refreshes in a row fail
            page.wait_for_event("requestfailed", timeout=30_000)
        delivered = deliver(served, sandbox, 3)
        page.unroute("**/api/v1/sources/acme/tables")

        expect(page.locator("#wh-stored")).to_have_text(str(delivered), timeout=15_000)
        expect(page.locator("#status-table")).to_be_visible()
        # What the aborted calls logged, and nothing else.
        problems.problems[:] = [p for p in problems.problems if "net::ERR_FAILED" not in p]
