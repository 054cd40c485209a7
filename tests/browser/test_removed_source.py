"""A source's pages after it is removed (404 with the way back), and run-history times that name
their time zone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import link

# en-GB with timeZoneName "short": "05 Dec 2026, 17:05:12 UTC" (or GMT+1, CET, ...).
ZONED_TIME = re.compile(r"^\d\d \w{3} \d{4}, \d\d:\d\d:\d\d [A-Z]{2,5}([+-]\d{1,2}(:\d\d)?)?$")


def test_run_history_times_name_their_zone_then_removal_leaves_a_404(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=["segments", "email_events"])
    page.goto("/sources/acme")
    started = page.locator("#runs-list tbody tr td").first
    expect(started).to_have_text(ZONED_TIME)

    page.goto("/sources/acme/settings")
    page.fill("#confirm-name", "acme")
    page.click("#remove-source")
    page.wait_for_url("**/sources")

    # A bookmark or the history brings the user back to the removed source's pages.
    for path in ("/sources/acme/settings", "/sources/acme"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator("#no-source")).to_contain_text("No source named 'acme'")
        expect(page.locator("#settings-form, #connection-form, #tables")).to_have_count(0)
    shot(page, "26-removed-source-404")
    page.click("#back-to-sources")
    page.wait_for_url(re.compile(r"/sources$"))
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()
