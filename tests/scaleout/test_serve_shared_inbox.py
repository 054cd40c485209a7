"""`serve` on a shared inbox: its own receiver and a `receive` on another machine (no data dir)
both store into it, with the keys the service publishes; the service's loader loads them all."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.inbox import ENV_INBOX, InboxLocation
from tests.helpers import CliResult, ServeProcess, add_source, free_port, run_cli, wait_until
from tests.scaleout.conftest import ReceiveProcess
from tests.webhooks.conftest import KEY, event_body, signed_headers

pytestmark = pytest.mark.timeout(180)


def _post(url: str, body: bytes) -> int:
    return httpx.post(url, content=body, headers=signed_headers(body), timeout=10).status_code


def test_serve_and_a_remote_receiver_share_the_inbox(
    tmp_path: Path, data_dir: DataDir, store: StateStore, shared_inbox: InboxLocation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert shared_inbox.url is not None
    add_source(store, name="acme", signing_key=KEY)
    monkeypatch.setenv(ENV_INBOX, shared_inbox.url.reveal())
    serve = ServeProcess(data_dir).start()
    remote = ReceiveProcess(tmp_path, shared_inbox,
                            data_dir.secret_key_file.read_text().strip(), free_port())
    try:
        remote.start()  # the keys were published before serve's receiver started
        local_url = f"{serve.webhook_base}/webhooks/customerio/acme"
        remote_url = f"http://127.0.0.1:{remote.port}/webhooks/customerio/acme"
        ids = [f"01JSERVESHARED{n:012d}" for n in range(3)]
        assert _post(local_url, event_body(ids[0])) == 200
        assert _post(remote_url, event_body(ids[1])) == 200
        assert _post(remote_url, event_body(ids[0])) == 200  # a retry elsewhere: a duplicate
        # A source added while serve runs reaches the remote receiver by itself.
        add_source(store, name="later", signing_key=KEY)
        later_url = f"http://127.0.0.1:{remote.port}/webhooks/customerio/later"
        wait_until(lambda: _post(later_url, event_body(ids[2])) == 200,
                   "the new source to be published", 10, interval=0.1)
        sql = ("select event_id from acme.email_events union all "
               "select event_id from later.email_events order by 1")
        result = CliResult(-1, "", "")

        def loaded() -> bool:
            nonlocal result
            result = run_cli(data_dir, "query", sql, "--format", "json")
            return result.code == 0 and len(json.loads(result.stdout)) >= 3

        wait_until(loaded, "the three events in the warehouse", 60, interval=0.5,
                   detail=lambda: result.output)
        assert [r["event_id"] for r in json.loads(result.stdout)] == ids
    finally:
        remote.kill()
        output = serve.stop()
    assert shared_inbox.url.reveal().split("@")[0] not in output  # no password shown
    assert "inbox postgresql://cio:***@" in output
