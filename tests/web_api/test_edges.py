"""The web app's edges, through the real app: it answers only to its own Host names (the public
base URL's host as soon as it is set), throttles failed logins per client, and refuses a short
admin token from the environment."""

from __future__ import annotations

import json
import re
import secrets

import httpx
import pytest

from cio_warehouse.service.runtime import ServeSettings, Service
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN
from tests.web_api.conftest import Browser, RunningApp, log_in, login_form_token, start_app

# Linux routes all of 127.0.0.0/8 to the loopback: a client bound to 127.0.0.2 is another peer
# address, as a second machine would be (127.0.0.1 is the default client's).
OTHER_CLIENT = "127.0.0.2"
ONE_SENTENCE = re.compile(r"^Too many failed logins from your address: try again in \d+ s\.$")


def _port(app: RunningApp) -> int:
    return int(app.url.rsplit(":", 1)[1])


def _with_host(app: RunningApp, host: str, path: str = "/login") -> httpx.Response:
    with app.client(headers={"Host": host}) as client:
        return client.get(path)


def _other_client(app: RunningApp) -> httpx.Client:
    return app.client(transport=httpx.HTTPTransport(local_address=OTHER_CLIENT))


def _fail_login(client: httpx.Client) -> httpx.Response:
    csrf = login_form_token(client)
    return client.post("/login", data={"token": "wrong-" + secrets.token_hex(8),
                                       "csrf_token": csrf, "next": "/"})


def _assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    text = answer.json()["error"] if "json" in answer.headers["content-type"] else answer.text
    assert ONE_SENTENCE.match(text), text


# -- Host --------------------------------------------------------------------------------------


def test_a_foreign_host_gets_400_before_anything_else(app: RunningApp) -> None:
    port = _port(app)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert _with_host(app, host).status_code == 200, host
    # A DNS-rebinding page: its own name, resolving to this machine. Refused even with the
    # admin token, and with no session cookie set.
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example",
                 "localhost.evil.example"):
        refused = _with_host(app, host)
        assert refused.status_code == 400, host
        assert "set-cookie" not in refused.headers
    with app.admin() as admin:
        refused = admin.get("/api/v1/sources", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.headers["x-frame-options"] == "DENY"  # the security headers still come


def test_the_public_base_urls_host_is_accepted_once_set_in_settings(
    app: RunningApp, browser: Browser
) -> None:
    host = "cio.example.com"
    assert _with_host(app, host).status_code == 400
    browser.ok("PUT", "/api/v1/settings", {"public_base_url": f"https://{host}/proxy"})
    assert _with_host(app, host).status_code == 200
    assert _with_host(app, f"{host}:443").status_code == 200  # the port is not part of it
    assert _with_host(app, "other.example.com").status_code == 400
    # A new URL replaces the old host; back to the default, neither is accepted.
    browser.ok("PUT", "/api/v1/settings", {"public_base_url": "https://cio2.example.com"})
    assert _with_host(app, "cio2.example.com").status_code == 200
    assert _with_host(app, host).status_code == 400
    browser.ok("PUT", "/api/v1/settings", {"public_base_url": None})
    assert _with_host(app, "cio2.example.com").status_code == 400
    assert browser.get("/api/v1/session").status_code == 200  # 127.0.0.1 all along


def test_a_host_named_with_allowed_hosts_is_accepted(data_dir: DataDir,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_ADMIN_TOKEN, raising=False)
    running = start_app(data_dir, settings=ServeSettings(
        port=0, webhook_port=0, allowed_hosts=("cio.internal", "*.corp.example")))
    try:
        for host in ("cio.internal", "a.corp.example", "127.0.0.1"):
            assert _with_host(running, host).status_code == 200, host
        for host in ("corp.example.evil", "cio.internal.evil"):
            assert _with_host(running, host).status_code == 400, host
    finally:
        running.stop()


# -- failed logins -------------------------------------------------------------------------------


def test_ten_failed_logins_then_429_while_another_client_logs_in(app: RunningApp) -> None:
    with app.client() as attacker, _other_client(app) as other:
        # Before: the other client's own failure counts for it alone.
        assert _fail_login(other).headers["location"].startswith("/login?error=invalid")
        for n in range(10):
            # Wrong tokens and used or made-up login links count alike.
            if n % 2:
                answer = attacker.get(f"/login/once/made-up-{n}")
                assert answer.headers["location"] == "/login?error=link", n
            else:
                answer = _fail_login(attacker)
                assert answer.headers["location"].startswith("/login?error=invalid"), n
            assert answer.status_code == 303, n
        # The 11th: refused whatever it carries, the right token included (else a right guess
        # would show), and no session is made.
        csrf = login_form_token(attacker)
        eleventh = attacker.post("/login", data={"token": app.admin_token, "csrf_token": csrf,
                                                 "next": "/"})
        _assert_throttled(eleventh)
        assert "cio_session" not in attacker.cookies
        _assert_throttled(attacker.get(app.auth.issue_login_link()))  # a valid link too
        # Another address is not affected: it logs in with the admin token.
        log_in(other, app.admin_token)
        assert other.get("/api/v1/session").json()["kind"] == "session"


def test_wrong_bearer_tokens_count_as_failed_logins(app: RunningApp, browser: Browser) -> None:
    with app.client() as guesser:
        for n in range(10):
            answer = guesser.get("/api/v1/session",
                                 headers={"Authorization": f"Bearer guess-{n}"})
            assert answer.status_code == 401, n
        # The right admin token from the same address now gets 429 too.
        _assert_throttled(guesser.get("/api/v1/session",
                                      headers={"Authorization": f"Bearer {app.admin_token}"}))
        _assert_throttled(_fail_login(guesser))
    # The CLI's service token (random, new at each start) is never locked out by them, and
    # a session made before goes on (127.0.0.1 too: neither is a login attempt).
    service_token = json.loads(app.service.data_dir.service_file.read_text())["token"]
    with app.client(headers={"Authorization": f"Bearer {service_token}"}) as cli:
        assert cli.get("/api/v1/health").json() == {"ok": True}
    assert browser.ok("POST", "/api/v1/query", {"sql": "select 1 as one"})["rows"] == [[1]]
    with app.client(headers={"Authorization": f"Bearer {app.admin_token}"},
                    transport=httpx.HTTPTransport(local_address=OTHER_CLIENT)) as admin:
        assert admin.get("/api/v1/session").json()["kind"] == "admin_token"


# -- the admin token from the environment ----------------------------------------------------


def test_an_admin_token_of_31_characters_is_refused_and_32_accepted(
    data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = secrets.token_hex(16)[:31]
    monkeypatch.setenv(ENV_ADMIN_TOKEN, short)
    service = Service(data_dir, ServeSettings(port=0, webhook_port=0))
    try:
        with pytest.raises(StateError, match="too short") as refused:
            service.start()
    finally:
        service.close()
    assert short not in str(refused.value)
    assert not data_dir.service_file.exists()

    exact = secrets.token_hex(16)
    monkeypatch.setenv(ENV_ADMIN_TOKEN, exact)
    running = start_app(data_dir, admin_token=exact)
    try:
        with running.client() as client:
            log_in(client, exact)
    finally:
        running.stop()


def test_behind_a_proxy_on_loopback_clients_are_told_apart_by_x_forwarded_for(
    app: RunningApp,
) -> None:
    """As nginx passes them on (docs/deployment.md): uvicorn trusts 127.0.0.1's header."""
    with app.client(headers={"X-Forwarded-For": "198.51.100.7"}) as first, \
            app.client(headers={"X-Forwarded-For": "198.51.100.8"}) as second:
        for _ in range(10):
            assert _fail_login(first).status_code == 303
        _assert_throttled(_fail_login(first))
        log_in(second, app.admin_token)
    with _other_client(app) as untrusted:
        # From an address that is no trusted proxy, the header is not believed.
        for _ in range(10):
            assert _fail_login(untrusted).status_code == 303
        untrusted.headers["X-Forwarded-For"] = "198.51.100.9"
        _assert_throttled(_fail_login(untrusted))
