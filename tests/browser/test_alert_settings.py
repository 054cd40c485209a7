"""Settings > Alerts in the browser: add (with an error beside the field), list masked, send a
test to a real local HTTP endpoint and SMTP server, remove; no URL token or password reaches
the page or the API's answers."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.alerts.endpoints import HttpEndpoint, SmtpServer
from tests.browser.conftest import Served, shot
from tests.secrets_plugin import remember


def test_alert_channels_on_the_settings_page(page: Page, served: Served) -> None:
    token = "tok9f3b2a7c5d1e"
    remember(token)
    with HttpEndpoint() as endpoint, SmtpServer() as smtp:
        remember(smtp.recorder.password)
        page.goto("/settings")
        expect(page.locator("#alert-channels")).to_contain_text("No alert channels yet")

        page.fill("#alert-name", "hook")
        page.select_option("#alert-kind", "webhook")
        page.fill("#alert-url", "ftp://example.com/x")
        page.click("#alert-form button[type=submit]")
        expect(page.locator(".field:has(#alert-url) .field-error")).to_contain_text(
            "must be an http:// or https:// URL")
        page.fill("#alert-url", f"{endpoint.url}/hook/{token}")
        page.click("#alert-form button[type=submit]")
        hook = page.locator('#alert-table tr[data-channel="hook"]')
        expect(hook).to_contain_text(f"{endpoint.url}/***")

        page.fill("#alert-name", "mail")
        page.select_option("#alert-kind", "email")
        expect(page.locator("#alert-url")).to_be_hidden()
        page.fill("#alert-email", "oncall@example.com")
        page.fill("#alert-smtp-url", smtp.url(password=False))
        page.fill("#alert-smtp-password", smtp.recorder.password)
        page.click("#alert-form button[type=submit]")
        mail = page.locator('#alert-table tr[data-channel="mail"]')
        expect(mail).to_contain_text("oncall@example.com via smtp://alerts:***@127.0.0.1")

        hook.get_by_role("button", name="Send test").click()
        expect(hook).to_contain_text("Delivered (HTTP 200)")
        mail.get_by_role("button", name="Send test").click()
        expect(mail).to_contain_text("Delivered (250 2.0.0 Ok: queued as TEST1)")
        assert len(endpoint.bodies(f"/hook/{token}")) == 1 and len(smtp.messages) == 1
        shot(page, "23-settings-alerts")

        html = page.content()
        answer = httpx.get(served.url("/api/v1/alert-channels"), timeout=10,
                           headers={"Authorization": f"Bearer {served.admin_token}"}).text
        for text in (html, answer):
            assert token not in text and smtp.recorder.password not in text

        page.on("dialog", lambda dialog: dialog.accept())
        hook.get_by_role("button", name="Remove").click()
        expect(hook).to_have_count(0)
        expect(mail).to_have_count(1)
