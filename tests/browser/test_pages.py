"""Around the wizard: logging in and out, the settings page (public base URL), an unknown source,
and the security headers the pages are served with (no inline script ran to get here)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PageProblems, Served, new_page, shot


def test_login_a_wrong_token_then_logout(browser: Browser, served: Served) -> None:
    problems = PageProblems()
    context, page = new_page(browser, served, problems)
    try:
        page.goto("/data")
        page.wait_for_url(re.compile(r"/login\?next=%2Fdata$"))
        expect(page.locator("#token")).to_have_attribute("type", "password")
        shot(page, "00-login")
        page.fill("#token", "not-the-token")
        page.click("#login")
        expect(page.locator("#login-error")).to_have_text("That is not the admin token.")
        page.fill("#token", served.admin_token)
        page.click("#login")
        page.wait_for_url(re.compile(r"/data$"))
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/login$"))
        page.goto("/sources")
        page.wait_for_url(re.compile(r"/login\?next="))
    finally:
        context.close()
    assert problems.problems == []


def test_pages_carry_the_security_headers(served: Served) -> None:
    with httpx.Client(base_url=served.base_url) as client:
        login = client.get("/login")
        script = client.get("/static/js/api.js")
    assert login.status_code == 200
    assert login.headers["content-security-policy"].startswith("default-src 'self'")
    assert login.headers["x-frame-options"] == "DENY"
    assert "<script>" not in login.text and " style=" not in login.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_settings_page_checks_the_public_base_url(page: Page, served: Served) -> None:
    page.goto("/settings")
    expect(page.locator("#receiver-url")).to_have_text(served.webhook_base)
    page.fill("#public_base_url", "cio.example.com")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-form .field-error")).to_contain_text(
        "not an absolute http(s) URL"
    )
    page.fill("#public_base_url", "https://cio.example.com/")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-form .form-status")).to_contain_text("Saved")
    page.reload()
    expect(page.locator("#public_base_url")).to_have_value("https://cio.example.com")
    shot(page, "22-settings")


def test_an_unknown_source_says_what_to_do(page: Page) -> None:
    for path in ("/sources/nope", "/sources/nope/settings", "/sources/nope/setup/tables"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator("#no-source")).to_contain_text("No source named 'nope'")
    page.click("#back-to-sources")
    page.wait_for_url(re.compile(r"/sources$"))
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()


def test_an_empty_warehouse_says_what_to_do(page: Page) -> None:
    page.goto("/data")
    expect(page.locator("#table-list")).to_contain_text("No tables yet")
    expect(page.locator("#activity")).to_contain_text("No sources yet")
    expect(page.locator("#activity").get_by_role("link", name="+ New source")).to_be_visible()
    page.fill("#sql", "select 42 as answer")
    page.click("#run-sql")
    expect(page.locator("#sql-rows tbody td")).to_have_text("42")
    shot(page, "23-data-empty")
