"""`python -m cio_warehouse.sandbox`: prints its URL once listening, serves, stops on SIGTERM."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS

from .receiver import Answer, Receiver

KEY = "cli-test-key"


def read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the sandbox printed nothing")
    return proc.stdout.readline()


@pytest.fixture
def sandbox_process() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "SANDBOX_TEST_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--port", "0", "--seed", "3",
         "--preset", "tiny", "--api-key-env", "SANDBOX_TEST_KEY", "--rate-limit-rps", "off",
         "--latency-ms", "5", "--forbid", "/v1/collections"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_prints_url_serves_and_stops_on_sigterm(sandbox_process: subprocess.Popen[str]) -> None:
    line = read_line(sandbox_process)
    assert set(json.loads(line)) == {"url"}
    url = json.loads(line)["url"]
    assert url.startswith("http://127.0.0.1:")
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        assert client.get("/v1/workspaces").status_code == 200
        assert len(client.get("/v1/newsletters").json()["newsletters"]) == 5
        assert client.get("/v1/collections").status_code == 403
    assert KEY not in " ".join(sandbox_process.args)  # type: ignore[arg-type]
    sandbox_process.send_signal(signal.SIGTERM)
    assert sandbox_process.wait(timeout=10) == 0
    _, stderr = sandbox_process.communicate(timeout=10)
    assert KEY not in stderr


def test_refuses_to_start_without_the_key_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_MISSING_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--api-key-env", "SANDBOX_MISSING_KEY"],
        capture_output=True, text=True, env=env, timeout=30,
    )
    assert done.returncode == 2
    assert "SANDBOX_MISSING_KEY" in done.stderr and done.stdout == ""


def test_streams_signed_events_to_registered_webhooks() -> None:
    """--stream-rate sends to every enabled, subscribed webhook; --retry-time-scale shortens the
    hour Customer.io waits after a 500 (0.0001: 0.36 s)."""
    env = {**os.environ, "SANDBOX_TEST_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--preset", "tiny", "--seed", "5",
         "--api-key-env", "SANDBOX_TEST_KEY", "--rate-limit-rps", "off", "--stream-rate", "200",
         "--retry-time-scale", "0.0001", "--delivery-timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = json.loads(read_line(proc))["url"]
        with Receiver([Answer(500)]) as rx, httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
            hook = client.post("/v1/reporting_webhooks", json={
                "name": "cli", "endpoint": rx.url, "events": sorted(SUBSCRIBABLE_EVENTS)}).json()
            key = client.get(f"/_sandbox/reporting_webhooks/{hook['id']}/signing_key").json()[
                "signing_key"]
            received = rx.wait_for(20, timeout=15)
            state = client.get("/_sandbox/deliveries", params={"limit": 0}).json()
        assert len(received) >= 20 and state["streaming"] is True
        assert received[0].event_id == received[1].event_id  # the 500 was retried first
        for request in received:
            message = b"v0:" + request.headers["x-cio-timestamp"].encode() + b":" + request.body
            expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
            assert request.headers["x-cio-signature"] == expected
        assert state["stats"][str(hook["id"])]["retries"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr


def test_behaviour_live_serves_the_live_reading() -> None:
    """--behaviour live: the switches of docs/customerio-behaviour.md on their live reading."""
    env = {**os.environ, "SANDBOX_TEST_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--port", "0", "--preset", "tiny",
         "--api-key-env", "SANDBOX_TEST_KEY", "--rate-limit-rps", "off", "--behaviour", "live"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = json.loads(read_line(proc))["url"]
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            segments = client.get("/v1/segments").json()
            assert segments["next"]  # paged, then a trailing empty page
            last = client.get("/v1/segments", params={"start": segments["next"]}).json()
            assert last["segments"] is None  # an empty list is null
            hidden = client.get("/v1/sender_identities", params={"hidden": "true"}).json()
            assert all(row["hidden"] for row in hidden["sender_identities"] or [])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_live_429_and_event_name_switches_from_the_command_line() -> None:
    """--no-retry-after (the docs' 429), --webhook-events live and --refuse-webhook-event."""
    env = {**os.environ, "SANDBOX_TEST_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_warehouse.sandbox", "--port", "0", "--preset", "tiny",
         "--api-key-env", "SANDBOX_TEST_KEY", "--rate-limit-rps", "1", "--no-retry-after",
         "--webhook-events", "live", "--refuse-webhook-event", "email_opened"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        url = json.loads(read_line(proc))["url"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
            limited = [client.get("/v1/segments") for _ in range(3)]
            assert any(r.status_code == 429 for r in limited)
            assert all("retry-after" not in r.headers for r in limited)
            body = {"name": "x", "endpoint": "https://example.com/h",
                    "events": ["email_sent", "email_opened", "email_deferred"]}
            refused = client.post("/v1/reporting_webhooks", json=body)
            while refused.status_code == 429:  # 1 request a second
                time.sleep(0.3)
                refused = client.post("/v1/reporting_webhooks", json=body)
            assert refused.status_code == 400
            assert "email_opened" in refused.text and "email_deferred" in refused.text
            assert "email_sent" not in refused.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
