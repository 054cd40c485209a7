"""Every route of the app, enumerated from the app itself: anonymous requests are refused (bar the
login routes and static assets), and unsafe requests of a session need its CSRF token."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Mount, Route

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN
from tests.web_api.conftest import RunningApp, log_in, login_form_token, start_app

# The only routes anyone may reach: logging in, and the assets the login page shows.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/once/{nonce}"),
    ("GET", "/static/{path:path}"),
    ("GET", "/static"),  # the StaticFiles mount
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PARAMS = {"name": "acme", "source": "acme", "table": "campaigns", "job_id": "1",
          "nonce": "not-a-nonce", "path": "css/app.css"}


def _routes(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, through FastAPI's included routers and mounts."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            yield "GET", str(context.path)
            # A mounted application with routes of its own: each of them too.
            yield from ((m, str(context.path) + p) for m, p in _routes(list(route.routes)))
        elif isinstance(route, Route | APIRoute):
            for method in sorted((context.methods or {"GET"}) - {"HEAD"}):
                yield method, str(context.path)
        else:
            raise AssertionError(f"a route of an unknown kind: {type(route).__name__}")


def _url(template: str) -> str:
    filled = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMS.get(m.group(1), "x"), template)
    return filled + ("/x" if template == "/static" else "")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the module: these tests change nothing that another one reads."""
    api_key = "sbx_guarded_" + secrets.token_hex(8)
    data_dir = DataDir(tmp_path_factory.mktemp("guarded") / "data").create()
    with SandboxServer(Workspace.preset("tiny", seed=3), api_key=api_key) as sandbox, \
            pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv(ENV_ADMIN_TOKEN, raising=False)
        # Webhook tables only: the scheduler has nothing to sync, so nothing depends on timing.
        StateStore(data_dir).add_source(SourceConfig(
            name="acme", region="us", app_api_key=Secret(api_key), api_base_url=sandbox.url,
            tables=tuple(t.name for t in catalog.WEBHOOK_TABLES),
        ))
        app = start_app(data_dir)
        try:
            yield app
        finally:
            app.stop()


def _all_routes(app: RunningApp) -> list[tuple[str, str]]:
    web_app = app.service_app
    assert isinstance(web_app, FastAPI)
    found = sorted(set(_routes(list(web_app.routes))))
    paths = {path for _, path in found}
    # The enumeration sees the API, the login routes and the OpenAPI document at least.
    assert {"/api/v1/sources", "/api/v1/openapi.json", "/login", "/logout"} <= paths
    return found


def test_anonymous_requests_are_refused_everywhere_but_the_login(running: RunningApp) -> None:
    routes = _all_routes(running)
    with running.client() as anonymous:
        for method, template in routes:
            answer = anonymous.request(method, _url(template))
            where = f"{method} {template} -> {answer.status_code}"
            assert "cio_session" not in answer.headers.get("set-cookie", ""), where
            if (method, template) in PUBLIC:
                continue
            # Machine routes (the JSON API, Prometheus' /metrics) refuse; pages send to login.
            if template.startswith("/api/") or template == "/metrics":
                assert answer.status_code == 401, where
                assert answer.json()["error"], where
            else:
                assert answer.status_code == 303, where
                assert answer.headers["location"].startswith("/login?next="), where
    assert {(m, t) for m, t in routes if (m, t) in PUBLIC} <= PUBLIC


def test_the_public_routes_give_nothing_away(running: RunningApp) -> None:
    with running.client() as anonymous:
        assert anonymous.post("/login", data={"token": running.admin_token}).status_code == 403
        bogus = anonymous.get("/login/once/not-a-nonce")
        assert bogus.status_code == 303 and bogus.headers["location"] == "/login?error=link"
        assert "cio_session" not in anonymous.cookies


def test_unsafe_requests_of_a_session_need_its_csrf_token(running: RunningApp) -> None:
    unsafe = [(m, t) for m, t in _all_routes(running) if m in UNSAFE]
    assert ("DELETE", "/api/v1/sources/{name}") in unsafe and ("POST", "/logout") in unsafe
    with running.client() as browser, running.client() as other:
        csrf = log_in(browser, running.admin_token)
        others = log_in(other, running.admin_token)
        assert others != csrf  # bound to the session: one session's token fails in another
        for method, template in unsafe:
            url = _url(template)
            for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": others}):
                answer = browser.request(method, url, headers=headers, json={})
                assert answer.status_code == 403, f"{method} {template} {headers}"
            # A form post without the field, or with a wrong one.
            for form in ({"token": "x"}, {"csrf_token": others}):
                answer = browser.request(method, url, data=form)
                assert answer.status_code == 403, f"{method} {template} form {form}"
        # Nothing happened: the source is there, the session still works.
        assert browser.get("/api/v1/sources/acme").status_code == 200
        # With the token the same requests go through.
        ok = browser.post("/api/v1/query", json={"sql": "select 1"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, ok.text


def test_bearer_callers_need_no_csrf_token(running: RunningApp) -> None:
    with running.admin() as bearer:
        answer = bearer.post("/api/v1/query", json={"sql": "select 1 as one"})
        assert answer.status_code == 200 and answer.json()["rows"] == [[1]]


def test_the_login_form_needs_its_csrf_token(running: RunningApp) -> None:
    with running.client() as browser:
        csrf = login_form_token(browser)
        with running.client() as elsewhere:
            # A token from another browser's login page does not fit this browser's cookie.
            refused = elsewhere.post("/login", data={"token": running.admin_token,
                                                     "csrf_token": csrf})
            assert refused.status_code == 403 and "cio_session" not in elsewhere.cookies
        accepted = browser.post("/login", data={"token": running.admin_token, "csrf_token": csrf})
        assert accepted.status_code == 303 and "cio_session" in browser.cookies


def test_every_response_carries_the_security_headers(running: RunningApp) -> None:
    with running.client() as anonymous, running.admin() as admin:
        answers = [
            anonymous.get("/login"),
            anonymous.get("/api/v1/sources"),
            anonymous.get("/sources"),
            admin.get("/api/v1/sources"),
            admin.get("/api/v1/nothing-here"),
            admin.get("/api/v1/openapi.json"),
        ]
    for answer in answers:
        headers = answer.headers
        assert "default-src 'self'" in headers["content-security-policy"], answer.url
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"


def test_no_interactive_docs_that_would_load_a_cdn(running: RunningApp) -> None:
    with running.admin() as admin:
        for path in ("/docs", "/redoc", "/api/v1/docs"):
            assert admin.get(path).status_code == 404


def test_the_app_listens_on_loopback_only(running: RunningApp) -> None:
    assert running.url.startswith("http://127.0.0.1:")
    assert running.service.settings.host == "127.0.0.1"


def test_a_json_error_for_unknown_api_paths(running: RunningApp) -> None:
    with running.admin() as admin:
        answer = admin.get("/api/v1/nothing-here")
    assert answer.status_code == 404 and answer.json()["error"].startswith("Nothing at")


def test_an_httpx_client_without_cookies_gets_the_login_page(running: RunningApp) -> None:
    page = httpx.get(f"{running.url}/login", timeout=30)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text


def test_a_form_that_cannot_be_read_is_refused_not_a_crash(running: RunningApp) -> None:
    with running.client() as browser:
        log_in(browser, running.admin_token)
        broken = browser.post("/logout", content=b"--x\r\nnonsense",
                              headers={"content-type": "multipart/form-data; boundary=x"})
        assert broken.status_code == 403
        huge = browser.post("/logout", content=b"a=" + b"b" * (2 << 20),
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert huge.status_code == 413
        assert browser.get("/api/v1/session").status_code == 200  # still logged in
