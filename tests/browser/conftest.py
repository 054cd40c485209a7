"""Browser fixtures: Debian's chromium driven by Playwright, the real `cio-warehouse serve` on a
fresh data dir, and a logged-in page. Every page is watched for script errors and CSP refusals."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    served = start_served(DataDir(tmp_path / "fresh-data").create())
    yield served
    served.process.stop()


class PageProblems:
    """Script errors and CSP refusals seen on any page of a context."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def watch(self, page: playwright_api.Page) -> None:
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)

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
    browser: playwright_api.Browser, served: Served
) -> Iterator[playwright_api.Page]:
    """A fresh browser context logged in with the admin token; fails on script errors."""
    problems = PageProblems()
    context, opened = new_page(browser, served, problems)
    log_in(opened, served)
    yield opened
    context.close()
    assert problems.problems == []


@pytest.fixture
def page(browser: playwright_api.Browser, served: Served) -> Iterator[playwright_api.Page]:
    with logged_in_page(browser, served) as opened:
        yield opened


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
