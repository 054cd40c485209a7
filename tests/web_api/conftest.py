"""The web app as `serve` runs it (a real Service on free ports, in a thread), and logins."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cio_warehouse.service.runtime import Endpoints, ServeSettings, Service
from cio_warehouse.state import DataDir
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN, Auth
from tests.helpers import wait_until

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class RunningApp:
    service: Service
    endpoints: Endpoints
    admin_token: str
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.endpoints.api_url

    @property
    def auth(self) -> Auth:
        auth = self.service_app.state.auth
        assert isinstance(auth, Auth)
        return auth

    @property
    def service_app(self):  # type: ignore[no-untyped-def]
        server = self.service._server
        assert server is not None
        return server.config.app

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    def admin(self) -> httpx.Client:
        """Bearer admin token: no CSRF token needed."""
        return self.client(headers={"Authorization": f"Bearer {self.admin_token}"})

    def stop(self) -> None:
        self.service.request_stop()
        self.thread.join(timeout=60)
        self.service.close()


def start_app(data_dir: DataDir, admin_token: str | None = None,
              settings: ServeSettings | None = None) -> RunningApp:
    """`admin_token`: the one CIO_WAREHOUSE_ADMIN_TOKEN gives (else the one the start prints);
    `settings`: serve's options (free ports by default)."""
    service = Service(data_dir, settings or ServeSettings(port=0, webhook_port=0))
    try:
        endpoints = service.start()
    except BaseException:
        service.close()
        raise
    thread = threading.Thread(target=service.run, name="web-app", daemon=True)
    thread.start()
    with httpx.Client(timeout=5) as probe:
        def answers() -> bool:
            try:
                probe.get(f"{endpoints.api_url}/login")
            except httpx.TransportError:
                return False
            return True

        wait_until(answers, "the web app to answer", timeout=10)
    token = admin_token or endpoints.admin_token
    assert token is not None, "a fresh data dir prints its admin token"
    return RunningApp(service, endpoints, token, thread)


@pytest.fixture
def app(data_dir: DataDir, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.delenv(ENV_ADMIN_TOKEN, raising=False)
    running = start_app(data_dir)
    yield running
    running.stop()


def login_form_token(client: httpx.Client, next_path: str = "/") -> str:
    """The login page's hidden csrf_token field, as a browser gets it."""
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    found = CSRF_FIELD.search(page.text)
    assert found is not None, "the login form carries a csrf_token field"
    return found.group(1)


def log_in(client: httpx.Client, token: str) -> str:
    """Log in through the form; returns the session's CSRF token for unsafe API calls."""
    csrf = login_form_token(client)
    answer = client.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    assert "cio_session" in client.cookies
    session = client.get("/api/v1/session")
    assert session.status_code == 200, session.text
    value = session.json()["csrf_token"]
    assert isinstance(value, str)
    return value


class Browser:
    """A logged-in browser session that sends its CSRF token on unsafe requests, as the pages'
    scripts do."""

    def __init__(self, app: RunningApp) -> None:
        self.http = app.client()
        self.csrf = log_in(self.http, app.admin_token)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def send(self, method: str, path: str, body: object = None) -> httpx.Response:
        return self.http.request(method, path, json=body, headers={"X-CSRF-Token": self.csrf})

    def ok(self, method: str, path: str, body: object = None, status: int = 200) -> Any:
        answer = self.send(method, path, body) if method != "GET" else self.get(path)
        assert answer.status_code == status, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None


@pytest.fixture
def browser(app: RunningApp) -> Iterator[Browser]:
    opened = Browser(app)
    yield opened
    opened.close()
