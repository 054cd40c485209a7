"""Browser fixtures: Debian's chromium driven by Playwright, the real `cio-warehouse serve` on a
fresh data dir, and a logged-in page. Every page is watched for script errors and CSP refusals."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cio_warehouse.state import DataDir
from tests.helpers import ServeProcess

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# Chrome logs every 4xx answer to fetch() as a console error; the pages show those errors
# themselves (tests assert the message), so only script errors and CSP refusals count.
_EXPECTED_CONSOLE = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
)


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in this thread
# while it is started, so it must stop before other packages' tests call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[playwright_api.Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium).")
    with playwright_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Served:
    """`cio-warehouse serve` with a known admin token; `url(path)` of its web app."""

    def __init__(self, process: ServeProcess, admin_token: str) -> None:
        self.process = process
        self.admin_token = admin_token
        self.base_url = f"http://127.0.0.1:{process.port}"
        self.webhook_base = process.webhook_base

    def url(self, path: str) -> str:
        return self.base_url + path


def start_served(data_dir: DataDir) -> Served:
    token = "adm_" + secrets.token_urlsafe(24)
    previous = os.environ.get("CIO_WAREHOUSE_ADMIN_TOKEN")
    os.environ["CIO_WAREHOUSE_ADMIN_TOKEN"] = token  # ServeProcess passes os.environ on
    try:
        process = ServeProcess(data_dir).start()
    finally:
        if previous is None:
            os.environ.pop("CIO_WAREHOUSE_ADMIN_TOKEN", None)
        else:
            os.environ["CIO_WAREHOUSE_ADMIN_TOKEN"] = previous
    return Served(process, token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test (`item.report_call`), for fixtures to read."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test that uses the fixture failed (its teardown is not told otherwise)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and bool(report.failed)


@pytest.fixture(autouse=True)
def sandbox_deliveries(request: pytest.FixtureRequest) -> Iterator[None]:
    """When a test with a sandbox fails, its report shows what the sandbox queued and delivered
    to each webhook (a wait for deliveries passes at once when nothing was queued)."""
    sandbox = request.getfixturevalue("sandbox") if "sandbox" in request.fixturenames else None
    yield
    if sandbox is not None and failed(request):
        print("the sandbox's deliveries per webhook:", sandbox.delivery_stats())


SERVE_LOG_TAIL = 80  # lines of serve's log shown beside a failure


def webhook_states(served: Served) -> dict[str, Any]:
    """Each source's webhook status as the page reads it (GET /sources/{name}/webhook)."""
    with httpx.Client(base_url=served.url("/api/v1"), timeout=30,
                      headers={"Authorization": f"Bearer {served.admin_token}"}) as client:
        try:
            names = [s["name"] for s in client.get("/sources").raise_for_status().json()]
            states = {n: client.get(f"/sources/{n}/webhook").json() for n in names}
        except httpx.HTTPError as exc:
            return {"error": repr(exc)}
    for state in states.values():
        if isinstance(state.get("remote"), dict):  # its long event list says little here
            state["remote"]["events"] = len(state["remote"].get("events", []))
    return states


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A fresh `serve`; when the test fails, its report shows the webhook status of every
    source and the tail of serve's log (both are what a flaky page test needs explained)."""
    served = start_served(DataDir(tmp_path / "fresh-data").create())
    yield served
    failing = failed(request)
    states = webhook_states(served) if failing else {}
    output = served.process.stop()
    if failing:
        print("webhook status at the failure:", json.dumps(states, indent=1, default=str))
        print(f"serve's log, last {SERVE_LOG_TAIL} lines:")
        print("\n".join(output.splitlines()[-SERVE_LOG_TAIL:]))


class PageProblems:
    """Script errors and CSP refusals seen on any page of a context; and, shown only beside a
    failure, the API calls that failed or got no answer (a page that stopped refreshing)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.failed_calls: list[str] = []

    def watch(self, page: playwright_api.Page) -> None:
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("requestfailed", self._request_failed)

    def show(self) -> None:
        print("page problems:", self.problems)
        print("API calls that failed:", self.failed_calls)

    def _request_failed(self, request: playwright_api.Request) -> None:
        # A navigation aborts the calls of the page it leaves: routine, not a symptom.
        if "/api/" in request.url and request.failure != "net::ERR_ABORTED":
            self.failed_calls.append(
                f"{time.strftime('%X')} {request.method} {request.url}: {request.failure}")

    def _response(self, response: playwright_api.Response) -> None:
        if response.status < 400 or "/api/" not in response.url:
            return
        try:  # the API's error says why (no secret is ever in one)
            said = response.text()[:300]
        except playwright_api.Error as exc:  # gone with a navigation
            said = f"(no body: {exc.message})"
        self.failed_calls.append(f"{time.strftime('%X')} {response.request.method} "
                                 f"{response.url}: HTTP {response.status} {said}")

    def _console(self, message: playwright_api.ConsoleMessage) -> None:
        if message.type == "error" and not _EXPECTED_CONSOLE.search(message.text):
            self.problems.append(f"console error: {message.text}")


def new_page(
    browser: playwright_api.Browser, served: Served, problems: PageProblems
) -> tuple[playwright_api.BrowserContext, playwright_api.Page]:
    context = browser.new_context(base_url=served.base_url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems.watch(page)
    return context, page


def log_in(page: playwright_api.Page, served: Served, path: str = "/sources") -> None:
    page.goto(path)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#token", served.admin_token)
    page.click("#login")
    page.wait_for_url(re.compile(re.escape(path) + "$"))


@contextlib.contextmanager
def logged_in_page(
    browser: playwright_api.Browser, served: Served, problems: PageProblems | None = None
) -> Iterator[playwright_api.Page]:
    """A fresh browser context logged in with the admin token; fails on script errors."""
    problems = PageProblems() if problems is None else problems
    context, opened = new_page(browser, served, problems)
    log_in(opened, served)
    try:
        yield opened
    except BaseException:
        problems.show()
        raise
    finally:
        context.close()
    assert problems.problems == []


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: playwright_api.Browser, served: Served
) -> Iterator[playwright_api.Page]:
    problems = PageProblems()
    with logged_in_page(browser, served, problems) as opened:
        yield opened
        if failed(request):
            problems.show()


def shot(
    page: playwright_api.Page, name: str, element: playwright_api.Locator | None = None
) -> None:
    """Save test-output/screenshots/<name>.png: the full page, or one element of it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = str(SCREENSHOTS / f"{name}.png")
    if element is None:
        page.screenshot(path=path, full_page=True)
    else:
        element.screenshot(path=path)
