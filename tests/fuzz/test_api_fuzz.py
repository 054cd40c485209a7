"""`cio-warehouse serve` as a real process under 30,000 fuzzed requests to its JSON API, login,
pages and assets: no 5xx, no success without credentials, no secret in any answer, and both the
service and its receiver still answering at the end."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import uvloop

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, SourceSettings, StateStore
from tests.fuzz.api_cases import (
    AUTHENTICATED_CLIENT,
    SOURCE,
    ApiFuzz,
    Callers,
    draw_bodies,
    routes,
)
from tests.fuzz.corpus import draw
from tests.fuzz.serve import FuzzServe
from tests.fuzz.wire import Tally, run
from tests.helpers import free_port
from tests.web_api.conftest import log_in

pytestmark = pytest.mark.timeout(300)

REQUESTS = 30_000


def _link(data_dir: DataDir, api_key: str, api_base_url: str) -> None:
    """The source the run works with: event tables only (the scheduler starts no sync), and a
    client that gives up at once (a fuzzed sync or key check meets a closed port)."""
    StateStore(data_dir).add_source(SourceConfig(
        name=SOURCE, region="us", app_api_key=Secret(api_key), api_base_url=api_base_url,
        tables=("email_events", "customer_events"),
        settings=SourceSettings(max_attempts=1, max_retry_seconds=1.0, connect_timeout=1.0),
    ))


def test_fuzzed_requests_to_the_api_get_no_5xx_and_no_unearned_success(
    data_dir: DataDir, tmp_path: Path, api_key: str, fuzz_seed: int, say: Callable[[str], None],
    requests_sent: Counter[str],
) -> None:
    rng = random.Random(fuzz_seed)
    closed_url = f"http://127.0.0.1:{free_port()}"
    signing_key = "fuzz-signing-key-" + rng.randbytes(16).hex()
    _link(data_dir, api_key, closed_url)
    admin_token = secrets.token_urlsafe(32)
    serve = FuzzServe(data_dir, admin_token, tmp_path / "serve.log").start()
    try:
        with httpx.Client(base_url=serve.api_url, timeout=30) as browser:
            csrf = log_in(browser, admin_token)
            callers = Callers(admin_token, browser.cookies["cio_session"], csrf)
        table = routes(closed_url, signing_key)
        fuzz = ApiFuzz(rng, table, draw_bodies(table, draw, rng, 120, fuzz_seed), callers)
        tally = Tally(secrets=(api_key.encode(), signing_key.encode()))
        started = time.monotonic()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run("127.0.0.1", serve.port, fuzz.cases(REQUESTS), tally, concurrency=32))
        elapsed = time.monotonic() - started

        assert serve.proc is not None and serve.proc.poll() is None, serve.output()
        # From the authenticated calls' address: 127.0.0.1 has just failed many logins.
        name, address = AUTHENTICATED_CLIENT
        with httpx.Client(base_url=serve.api_url, timeout=30,
                          headers={"Authorization": f"Bearer {admin_token}",
                                   name.decode(): address.decode()}) as admin:
            assert admin.get("/api/v1/sources/acme").status_code == 200
            receiver_url = admin.get("/api/v1/settings").json()["receiver_url"]
        assert httpx.get(f"{receiver_url}/webhooks/customerio/acme").status_code == 405
    finally:
        code = serve.stop()
    assert code == 0, serve.output()[-3000:]

    requests_sent["JSON API"] += tally.sent
    say(f"fuzz: {tally.sent} requests to the JSON API in {elapsed:.1f} s "
        f"({tally.sent / elapsed:.0f}/s, seed {fuzz_seed}); statuses {dict(tally.by_status)}")
    assert not tally.failed, tally.summary()
    assert not tally.unavailable, (
        f"503 is the receiver's answer, not the API's: {tally.unavailable}")
    assert tally.sent >= REQUESTS
