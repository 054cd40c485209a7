"""The JSON API (and so the wizard) refuses a reserved source name beside the name field."""

from __future__ import annotations

from cio_warehouse.sandbox import SandboxServer
from tests.web_api.conftest import Browser


def test_the_api_refuses_a_reserved_name_beside_its_field(
    browser: Browser, sandbox: SandboxServer, api_key: str
) -> None:
    answer = browser.send("POST", "/api/v1/sources", {
        "name": "pg_catalog", "region": "us", "app_api_key": api_key,
        "api_base_url": sandbox.url})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["field"] == "name"
    assert body["error"].startswith("The source name 'pg_catalog' is reserved")
    assert "PostgreSQL keeps schema names starting with pg_" in body["error"]
    assert browser.ok("GET", "/api/v1/sources") == []
    assert sandbox.requests() == []  # refused before the key was checked
