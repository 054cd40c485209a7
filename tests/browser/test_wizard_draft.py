"""The wizard's source is a draft until Import: an abandoned setup shows in the list with the way
back, and Cancel removes the source together with its webhook in Customer.io."""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served
from tests.browser.linking import api
from tests.browser.test_wizard import fill_credentials


def step_one(page: Page, sandbox: SandboxServer, api_key: str) -> None:
    page.goto("/sources/new/customerio")
    fill_credentials(page, "acme", api_key, "us", sandbox.url)
    page.click("#next")
    page.wait_for_url("**/sources/acme/setup/webhook")
    expect(page.locator("#register-summary")).to_contain_text("disabled until its signing key")


def draft(served: Served) -> bool:
    with api(served) as client:
        return bool(client.get("/sources/acme").raise_for_status().json()["draft"])


def test_cancel_removes_the_draft_and_its_webhook(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    step_one(page, sandbox, api_key)
    assert len(sandbox.webhooks()) == 1 and draft(served)
    messages: list[str] = []

    def accept(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#cancel-wizard")
    page.wait_for_url(re.compile(r"/sources$"))
    assert "webhook is deleted in Customer.io" in messages[0]
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()
    assert sandbox.webhooks() == []


def test_an_abandoned_setup_shows_in_the_list_and_import_finishes_it(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    step_one(page, sandbox, api_key)
    page.goto("/sources")  # the user wanders off
    row = page.locator("#sources-table tr[data-source=acme]")
    expect(row).to_contain_text("setup not finished")
    row.get_by_role("link", name="Continue setup").click()
    page.wait_for_url("**/sources/acme/setup/webhook")
    page.click("#next")
    page.wait_for_url("**/sources/acme/setup/tables")
    expect(page.locator("#cancel-wizard")).to_be_visible()
    page.click("#import")
    page.wait_for_url("**/sources/acme?job=*")
    assert not draft(served)

    # A finished source offers no Cancel in the wizard's pages.
    page.goto("/sources/acme/setup/webhook")
    expect(page.locator("#register-summary")).to_be_visible()
    expect(page.locator("#cancel-wizard")).to_be_hidden()
