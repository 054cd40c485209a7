"""The wizard's webhook step: a URL Customer.io cannot reach is registered with a warning, not a
green result, and a saved signing key waits for the first signed delivery before it says events
flow."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.test_wizard import fill_credentials
from tests.helpers import send_deliveries


def test_a_loopback_url_warns_and_the_key_waits_for_a_signed_delivery(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    page.goto("/sources/new/customerio")
    fill_credentials(page, "acme", api_key, "us", sandbox.url)
    page.click("#next")
    page.wait_for_url("**/sources/acme/setup/webhook")

    # The test's receiver listens on 127.0.0.1: the sandbox reaches it, Customer.io would not.
    unreachable = page.locator("#register-unreachable")
    expect(unreachable).to_contain_text("Customer.io cannot reach")
    expect(unreachable).to_contain_text("127.0.0.1 is this machine (a loopback address)")
    expect(page.locator("#register-outcome .banner")).to_have_class("banner banner-warning")
    page.get_by_role("button", name="Change the public base URL").click()
    expect(page.locator("#base-form")).to_be_visible()
    shot(page, "29-step2-unreachable-url")

    [hook] = sandbox.webhooks()
    page.fill("#signing_key", sandbox.signing_key(hook["id"]))
    page.click("#save-key")
    expect(page.locator("#key-saved")).to_contain_text(f"webhook {hook['id']} enabled")
    first = page.locator("#first-delivery")
    expect(first).to_have_attribute("data-state", "waiting")
    expect(first).to_contain_text("Waiting for the first signed delivery")
    expect(page.locator("#key-outcome")).not_to_contain_text("flow")

    send_deliveries(sandbox, 2)
    assert sandbox.wait_delivered(30)
    expect(first).to_have_attribute("data-state", "received", timeout=30_000)
    expect(first).to_contain_text("First signed delivery received: events flow into the acme")
