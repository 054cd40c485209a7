"""The settings form moves a source to another region only with the App API key typed again: the
key field becomes required, a save without it is refused beside the field, one with it is saved."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from cio_warehouse.sandbox import SandboxServer
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, api, link


def _region(served: Served) -> str:
    with api(served) as client:
        region = client.get("/sources/acme").raise_for_status().json()["region"]
    assert isinstance(region, str)
    return region


def test_a_region_change_needs_the_key_again(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    page.goto("/sources/acme/settings")
    key = page.locator("#app_api_key")
    save = page.locator("#connection-form button[type=submit]")
    key_error = page.locator(".field:has(#app_api_key) .field-error")
    expect(save).to_be_enabled()  # the form is filled in
    expect(key).to_have_js_property("required", False)
    expect(page.locator("#key-required")).to_be_hidden()

    page.select_option("#region", "eu")
    expect(key).to_have_js_property("required", True)
    expect(page.locator("#key-required")).to_be_visible()
    expect(page.locator("#key-optional")).to_be_hidden()

    # Saved without the key: the service refuses, the reason sits beside the key field.
    save.click()
    expect(key_error).to_contain_text("Changing the region needs the App API key again")
    expect(key).to_have_attribute("aria-invalid", "true")
    shot(page, "22-source-settings-region-needs-key")
    assert _region(served) == "us"

    # Back to the saved region: the key is optional again.
    page.select_option("#region", "us")
    expect(key).to_have_js_property("required", False)

    page.select_option("#region", "eu")
    key.fill(api_key)
    save.click()
    expect(page.locator("#connection-form .form-status")).to_contain_text("Saved")
    expect(key_error).to_be_hidden()
    expect(key).to_have_value("")
    expect(key).to_have_js_property("required", False)  # eu is the saved region now
    assert _region(served) == "eu"
