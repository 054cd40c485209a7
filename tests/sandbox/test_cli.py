"""`python -m cio_warehouse.sandbox`: prints its URL once listening, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

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
