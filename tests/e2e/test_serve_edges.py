"""`cio-warehouse serve` as a user starts it: a short admin token in the environment stops it
with what to do, and the Host names it answers to come from --allowed-host and the environment."""

from __future__ import annotations

import secrets

import httpx
import pytest

from cio_warehouse.state import DataDir
from cio_warehouse.web.auth import ENV_ADMIN_TOKEN
from cio_warehouse.web.hosts import ENV_ALLOWED_HOSTS
from tests.helpers import ServeProcess, free_port, run_cli


def test_serve_refuses_an_admin_token_of_31_characters(data_dir: DataDir) -> None:
    short = secrets.token_urlsafe(32)[:31]
    webhook_port = free_port()
    # A serve that started would run until the timeout: the test would fail on it.
    result = run_cli(data_dir, "serve", "--port", str(free_port()), "--webhook-port",
                     str(webhook_port), env={ENV_ADMIN_TOKEN: short}, timeout=60)
    assert result.code == 1, result.output
    assert "Traceback" not in result.output and short not in result.output
    text = " ".join(result.stderr.split())
    assert text.startswith(f"Error: ${ENV_ADMIN_TOKEN} is too short (31 characters")
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in text
    # Nothing was started: no service file, no receiver, no admin token file made.
    assert not data_dir.service_file.exists() and not data_dir.admin_token_file.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{webhook_port}/", timeout=2)


def test_serve_answers_to_the_hosts_named_and_refuses_a_bad_name(
    data_dir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = run_cli(data_dir, "serve", "--allowed-host", "https://cio.example.com", timeout=60)
    assert bad.code == 1 and "Traceback" not in bad.output
    assert "without scheme or port" in " ".join(bad.stderr.split())

    monkeypatch.setenv(ENV_ALLOWED_HOSTS, "a.example.com, *.corp.example")  # ServeProcess passes it
    monkeypatch.setenv(ENV_ADMIN_TOKEN, secrets.token_urlsafe(32))
    serve = ServeProcess(data_dir, None, None, "--allowed-host", "cio.internal").start()
    try:
        base = f"http://127.0.0.1:{serve.port}/login"
        for host in ("cio.internal", "a.example.com", "x.corp.example", "localhost"):
            assert httpx.get(base, headers={"Host": host}).status_code == 200, host
        assert httpx.get(base, headers={"Host": "b.example.com"}).status_code == 400
    finally:
        serve.stop()
