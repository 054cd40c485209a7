"""Logging in: the admin token printed once and kept only hashed, one-time links, sessions that
expire and end at logout, bearer tokens that are the only credential they name."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from cio_warehouse.state import DataDir
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN
from tests.helpers import ServeProcess
from tests.web_api.conftest import RunningApp, log_in, login_form_token, start_app

TOKEN_LINE = re.compile(r"Admin token \(shown once, keep it safe\): (\S+)")
LINK_LINE = re.compile(r"Log in once with (http://\S+/login/once/\S+)")


def _read_until(serve: ServeProcess, pattern: re.Pattern[str], timeout: float = 30) -> str:
    """serve's output up to the first line that matches (it prints right after it listens)."""
    assert serve.proc is not None and serve.proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = serve.proc.stdout

    def pump() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line)
            if pattern.search(line):
                return

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen += line
        if pattern.search(line):
            return seen
    raise AssertionError(f"serve did not print {pattern.pattern!r}; it printed:\n{seen}")


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_serve_prints_the_admin_token_once_and_keeps_only_its_hash(data_dir: DataDir) -> None:
    serve = ServeProcess(data_dir).start()
    try:
        first = _read_until(serve, LINK_LINE)
        token_match, link_match = TOKEN_LINE.search(first), LINK_LINE.search(first)
        assert token_match and link_match, first
        token, link = token_match.group(1), link_match.group(1)
        base = f"http://127.0.0.1:{serve.port}"
        with httpx.Client(base_url=base, timeout=30) as browser:
            log_in(browser, token)
            assert browser.get("/api/v1/sources").status_code == 200
        stored = json.loads(data_dir.admin_token_file.read_text())
        assert stored["sha256"] == hashlib.sha256(token.encode()).hexdigest()
        assert os.stat(data_dir.admin_token_file).st_mode & 0o077 == 0
        assert _files_containing(data_dir.root, token) == []
    finally:
        serve.stop()

    again = ServeProcess(data_dir).start()
    try:
        second = _read_until(again, LINK_LINE)
        assert "Admin token" not in second and token not in second
        second_link = LINK_LINE.search(second)
        assert second_link and second_link.group(1) != link
        base = f"http://127.0.0.1:{again.port}"
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/sources", headers=bearer).status_code == 200
        with httpx.Client(timeout=30) as browser:
            opened = browser.get(second_link.group(1))
            assert opened.status_code == 303 and "cio_session" in browser.cookies
    finally:
        output = again.stop()
    assert token not in output


def test_a_one_time_link_logs_in_once(app: RunningApp) -> None:
    path = app.endpoints.login_url
    assert path is not None
    with app.client() as browser:
        assert browser.get("/api/v1/sources").status_code == 401
        first = browser.get(path.removeprefix(app.url))
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/api/v1/sources").status_code == 200
    with app.client() as other:
        second = other.get(path.removeprefix(app.url))
        assert second.status_code == 303 and second.headers["location"] == "/login?error=link"
        assert "cio_session" not in other.cookies
        assert other.get("/api/v1/sources").status_code == 401


def test_wrong_token_makes_no_session(app: RunningApp) -> None:
    with app.client() as browser:
        csrf = login_form_token(browser)
        answer = browser.post("/login", data={"token": "not-it", "csrf_token": csrf})
        assert answer.status_code == 303 and "error=invalid" in answer.headers["location"]
        assert "cio_session" not in browser.cookies
        assert browser.get("/api/v1/sources").status_code == 401


def test_login_redirects_only_to_a_path_of_this_site(app: RunningApp) -> None:
    with app.client() as browser:
        csrf = login_form_token(browser)
        answer = browser.post(
            "/login",
            data={"token": app.admin_token, "csrf_token": csrf, "next": "//evil.example/x"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_logout_ends_the_session(app: RunningApp) -> None:
    with app.client() as browser:
        csrf = log_in(browser, app.admin_token)
        assert browser.post("/logout").status_code == 403  # no CSRF token: refused
        assert browser.get("/api/v1/sources").status_code == 200
        stolen = browser.cookies["cio_session"]
        out = browser.post("/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert browser.get("/api/v1/sources").status_code == 401
    # The cookie's value is worth nothing after logout, even when sent again.
    with app.client(cookies={"cio_session": stolen}) as replay:
        assert replay.get("/api/v1/sources").status_code == 401


def test_sessions_expire(app: RunningApp) -> None:
    with app.client() as browser:
        log_in(browser, app.admin_token)
        expires = browser.get("/api/v1/session").json()["expires_at"]
        assert expires == pytest.approx(time.time() + app.auth.session_seconds, abs=60)
        real_clock = app.auth.clock
        app.auth.clock = lambda: real_clock() + app.auth.session_seconds + 1
        try:
            assert browser.get("/api/v1/sources").status_code == 401
            page = browser.get("/sources")
            assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        finally:
            app.auth.clock = real_clock
        assert browser.get("/api/v1/sources").status_code == 401  # gone, not just hidden


def test_a_login_link_expires_unused(app: RunningApp) -> None:
    path = app.auth.issue_login_link()
    real_clock = app.auth.clock
    app.auth.clock = lambda: real_clock() + 2 * 3600
    try:
        with app.client() as browser:
            answer = browser.get(path)
            assert answer.headers["location"] == "/login?error=link"
    finally:
        app.auth.clock = real_clock


def test_a_wrong_bearer_token_is_refused_even_with_a_session(app: RunningApp) -> None:
    with app.client() as browser:
        log_in(browser, app.admin_token)
        answer = browser.get("/api/v1/sources", headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401 and answer.json()["error"]
        page = browser.get("/sources", headers={"Authorization": "Bearer nope"})
        assert page.status_code == 401


def test_the_service_token_of_the_cli_works_as_a_bearer(app: RunningApp) -> None:
    service_json = json.loads(app.service.data_dir.service_file.read_text())
    headers = {"Authorization": f"Bearer {service_json['token']}"}
    with app.client(headers=headers) as cli:
        assert cli.get("/api/v1/health").json() == {"ok": True}
        assert cli.post("/api/v1/query", json={"sql": "select 41 + 1 as n"}).json()["rows"] == [
            [42]
        ]
        assert cli.get("/api/v1/session").json()["kind"] == "service_token"


def test_an_admin_token_from_the_environment_replaces_the_stored_one(
    data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = "given-by-the-operator-" + os.urandom(8).hex()
    monkeypatch.setenv(ENV_ADMIN_TOKEN, given)
    running = start_app(data_dir, admin_token=given)
    try:
        assert running.endpoints.admin_token is None  # nothing to print: the operator has it
        assert not data_dir.admin_token_file.exists()
        with running.client() as browser:
            log_in(browser, given)
        with running.admin() as bearer:
            assert bearer.get("/api/v1/session").json()["kind"] == "admin_token"
    finally:
        running.stop()
