"""A stored App API key goes only to the host it was checked with: moving a source to another
region or API base URL through the JSON API needs the key again, and until it is given nothing
reaches the new host, not even a key check."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator

import pytest

from cio_warehouse.customerio import regions
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig
from tests.web_api.conftest import Browser, RunningApp

# Event tables only: the scheduler starts no sync of its own, so every request a host logs
# comes from the settings changes under test.
EVENT_TABLES = ["email_events"]


@pytest.fixture
def new_key() -> str:
    return "sbx_" + secrets.token_hex(20)  # the api_key fixture's shape: the secrets scan knows it


@pytest.fixture
def new_host(new_key: str) -> Iterator[SandboxServer]:
    """Another workspace's Customer.io: it answers 401 to any key but its own."""
    with SandboxServer(Workspace.preset("small", seed=8), api_key=new_key) as server:
        yield server


class _ConnectLog(http.server.BaseHTTPRequestHandler):
    """Stands between the app and the real regions: an HTTPS request leaves through a proxy as
    `CONNECT host:443`, so this log shows whether anything set out for api-eu.customer.io."""

    seen: list[str]

    def do_CONNECT(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append(self.path)
        self.send_error(403)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def https_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A real local proxy for https:// (httpx reads $HTTPS_PROXY when a client is made): the
    hosts the app tried to reach. Set after the app started, so its receiver process is spared."""
    seen: list[str] = []
    handler = type("ConnectLog", (_ConnectLog,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="https-proxy", daemon=True)
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _refused(browser: Browser, body: dict[str, object], moved: str) -> None:
    answer = browser.send("PATCH", "/api/v1/sources/acme", body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["field"] == "app_api_key"
    assert error["error"].startswith(f"Changing the {moved} needs the App API key again: ")
    assert ". " not in error["error"] and error["error"].endswith("checked with.")


def test_a_new_api_base_url_needs_the_key_and_the_old_one_never_reaches_it(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str,
    new_host: SandboxServer, new_key: str,
) -> None:
    browser.ok("POST", "/api/v1/sources", {
        "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
        "tables": EVENT_TABLES}, status=201)

    # Without the key: refused at once, and the new host sees no request at all.
    _refused(browser, {"api_base_url": new_host.url}, "API base URL")
    _refused(browser, {"api_base_url": ""}, "API base URL")  # back to the region's own host
    _refused(browser, {"region": "eu", "api_base_url": new_host.url},
             "region and the API base URL")
    assert new_host.requests() == []
    source = browser.ok("GET", "/api/v1/sources/acme")
    assert (source["region"], source["api_base_url"]) == ("us", sandbox.url)

    # The settings form sends the region and URL it shows: unchanged, they need no key.
    saved = browser.ok("PATCH", "/api/v1/sources/acme", {
        "region": "US", "api_base_url": f" {sandbox.url}/ "})
    assert (saved["region"], saved["api_base_url"]) == ("us", sandbox.url)

    # With the new workspace's key: checked there, saved; the old key never arrived (the new
    # host answers 401 to any other key).
    moved = browser.ok("PATCH", "/api/v1/sources/acme", {
        "api_base_url": new_host.url, "app_api_key": new_key})
    assert moved["api_base_url"] == new_host.url
    logged = new_host.requests()
    assert [r.path for r in logged] == ["/v1/workspaces"]
    assert all(r.status == 200 for r in logged), logged
    assert app.service.store.get_source("acme").app_api_key.reveal() == new_key


def test_a_new_region_needs_the_key_and_nothing_sets_out_for_it(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str,
    https_proxy: list[str],
) -> None:
    # A source on Customer.io's US host itself, as linking it with a real key leaves it (set in
    # the store: the test cannot reach api.customer.io to link it).
    app.service.store.add_source(SourceConfig(
        name="acme", region="us", app_api_key=Secret(api_key), tables=tuple(EVENT_TABLES)))
    _refused(browser, {"region": "eu"}, "region")
    _refused(browser, {"region": "eu", "api_base_url": ""}, "region")
    assert https_proxy == [], "a request set out for the new region's host"
    assert browser.ok("GET", "/api/v1/sources/acme")["region"] == "us"

    # The refusal comes before any request: without it, the stored key would be checked at
    # api-eu.customer.io (the proxy sees the attempt and refuses it).
    with_key = browser.send("PATCH", "/api/v1/sources/acme", {
        "region": "eu", "app_api_key": "sbx_" + secrets.token_hex(20)})
    assert with_key.status_code in (400, 502), with_key.text
    assert https_proxy and set(https_proxy) == {f"{regions.host('eu')}:443"}  # and its retry


def test_a_region_change_with_the_key_is_saved(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str,
) -> None:
    browser.ok("POST", "/api/v1/sources", {
        "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
        "tables": EVENT_TABLES}, status=201)
    sandbox.clear_requests()
    _refused(browser, {"region": "eu"}, "region")
    assert sandbox.requests() == []  # not even the host it has: the key check is not reached
    saved = browser.ok("PATCH", "/api/v1/sources/acme", {"region": "eu", "app_api_key": api_key})
    assert (saved["region"], saved["api_base_url"]) == ("eu", sandbox.url)
    assert [r.path for r in sandbox.requests()] == ["/v1/workspaces"]
