"""The wizard's failures, each shown where the user acts, in the CLI's words: a wrong key, a wrong
region, a key without scope, and a webhook that cannot be registered (the manual steps)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.browser.conftest import Served, shot
from tests.browser.test_wizard import fill_credentials


def open_step1(page: Page) -> None:
    page.goto("/sources/new/customerio")
    expect(page.locator("#app_api_key")).to_be_visible()


def key_error(page: Page) -> Locator:
    """The error slot beside the App API key field."""
    return page.locator(".field", has=page.locator("#app_api_key")).locator(".field-error")


def test_a_wrong_key_and_a_wrong_region_are_named_beside_the_key(
    sandbox: SandboxServer, page: Page, served: Served
) -> None:
    open_step1(page)
    fill_credentials(page, "acme", "sbx_not_the_right_key", "us", sandbox.url)
    page.click("#next")
    error = key_error(page)
    expect(error).to_contain_text("Customer.io rejected the App API key (HTTP 401")
    # The sandbox's URL replaces the region's host, and the message names the host used.
    host = sandbox.url.split("://", 1)[1]
    expect(error).to_contain_text(f"region us, {host}")
    expect(error).to_contain_text("not a Track API key")
    expect(page.locator("#app_api_key")).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/sources/new/customerio")
    shot(page, "10-step1-wrong-key")

    # Another region with the same API base URL: the host used is still the sandbox's, so the
    # message points at that URL, not at the other region (which would change nothing).
    page.fill("#app_api_key", "sbx_a_us_key_used_in_the_eu")
    page.select_option("#region", "eu")
    page.click("#next")
    expect(error).to_contain_text(f"region eu, {host}")
    expect(error).to_contain_text("the source's API base URL, is the App API this key")
    expect(error).not_to_contain_text("use region 'us'")
    shot(page, "11-step1-wrong-region")
    page.goto("/sources")
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()


def test_a_key_without_scope_is_explained(
    page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    with SandboxServer(workspace, api_key=api_key, forbidden_paths=["/v1/workspaces"]) as sandbox:
        open_step1(page)
        fill_credentials(page, "acme", api_key, "us", sandbox.url)
        page.click("#next")
        error = key_error(page)
        expect(error).to_contain_text("The App API key may not read workspaces (HTTP 403")
        expect(error).to_contain_text("give the key access to workspaces")


def test_registration_failure_shows_why_and_the_manual_steps(
    page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    with SandboxServer(
        workspace, api_key=api_key, forbidden_paths=["/v1/reporting_webhooks"]
    ) as sandbox:
        open_step1(page)
        fill_credentials(page, "acme", api_key, "us", sandbox.url)
        page.click("#next")
        page.wait_for_url("**/sources/acme/setup/webhook")
        manual = page.locator("#manual-steps")
        expect(manual).to_contain_text("could not be registered automatically")
        expect(page.locator("#register-failure")).to_contain_text(
            "may not manage reporting webhooks"
        )
        url = f"{served.webhook_base}/webhooks/customerio/acme"
        expect(manual.locator("li")).to_have_count(5)
        expect(manual.locator("li").nth(0)).to_contain_text(
            "Data & Integrations > Integrations > Reporting Webhooks"
        )
        expect(manual.locator("li").nth(1)).to_contain_text(url)
        expect(manual.locator("li").nth(2)).to_contain_text("email_opened")
        # The command names this source and reads as code, not as markdown backticks.
        expect(manual.locator("li").nth(4).locator("code")).to_have_text(
            "cio-warehouse webhook signing-key acme"
        )
        expect(manual.locator("li").nth(4)).not_to_contain_text("`")
        expect(page.locator("#webhook-url")).to_have_value(url)
        shot(page, "12-step2-manual-steps")
        assert sandbox.webhooks() == []

        # The user creates it by hand and pastes its key: stored, nothing to enable from here.
        page.fill("#signing_key", "whsec-" + "ab" * 16)
        page.click("#save-key")
        expect(page.locator("#key-saved")).to_contain_text("No webhook is registered yet")
        expect(page.locator("#key-stored")).to_be_visible()


def test_refused_event_names_are_registered_without_and_said(
    page: Page, served: Served, workspace: Workspace, api_key: str
) -> None:
    """Customer.io answering 400 naming events (docs/customerio-behaviour.md): the wizard shows
    the webhook registered without them and names them, never the manual steps."""
    with SandboxServer(workspace, api_key=api_key, webhook_events="live",
                       refused_webhook_events=["in_app_opened"]) as sandbox:
        open_step1(page)
        fill_credentials(page, "acme", api_key, "us", sandbox.url)
        page.click("#next")
        page.wait_for_url("**/sources/acme/setup/webhook")
        expect(page.locator("#register-summary")).to_contain_text("disabled until its signing key")
        expect(page.locator("#register-notice")).to_contain_text("Customer.io refused")
        expect(page.locator("#register-notice")).to_contain_text("in_app_opened")
        expect(page.locator("#manual-steps")).to_have_count(0)
        [hook] = sandbox.webhooks()
        assert "in_app_opened" not in hook["events"]
