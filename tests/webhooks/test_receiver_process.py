"""The receiver process: the ready line, a clean SIGTERM that loses no acked event, bad starts."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from cio_warehouse.state import DataDir
from tests.webhooks.conftest import (
    KEY,
    ReceiverProcess,
    event_body,
    nodelay_transport,
    read_inbox,
    signed_headers,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def process(data_dir_with_source: DataDir) -> Iterator[ReceiverProcess]:
    receiver = ReceiverProcess(data_dir_with_source).start()
    yield receiver
    receiver.kill()


def test_prints_one_ready_line_then_serves(process: ReceiverProcess) -> None:
    assert json.loads(process.ready_line) == {"url": process.url}
    assert process.url.startswith("http://127.0.0.1:")
    body = event_body()
    reply = httpx.post(process.endpoint(), content=body, headers=signed_headers(body))
    assert reply.status_code == 200 and reply.json()["result"] == "stored"
    assert "server" not in reply.headers
    assert httpx.get(process.url + "/docs").status_code == 404
    assert process.terminate() == 0
    assert process.proc is not None and process.proc.stdout is not None


def test_sigterm_finishes_in_flight_requests_and_loses_no_acked_event(
    process: ReceiverProcess, data_dir_with_source: DataDir
) -> None:
    acked: list[str] = []
    refused_after_stop = 0

    async def sender(client: httpx.AsyncClient, worker: int, stop: asyncio.Event) -> None:
        nonlocal refused_after_stop
        n = 0
        while True:
            event_id = f"01HTERM{worker:03d}{n:012d}"
            n += 1
            body = event_body(event_id)
            try:
                reply = await client.post(process.endpoint(), content=body,
                                          headers=signed_headers(body))
            except httpx.TransportError:  # the listener closed: never acked, so not counted
                refused_after_stop += 1
                if stop.is_set():
                    return
                continue
            if 200 <= reply.status_code < 300:
                acked.append(event_id)
            if stop.is_set() and reply.headers.get("connection") == "close":
                return

    async def run() -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(transport=nodelay_transport(20), timeout=10) as client:
            tasks = [asyncio.ensure_future(sender(client, w, stop)) for w in range(20)]
            while len(acked) < 150:  # the stream is flowing
                await asyncio.sleep(0.01)
            assert process.proc is not None
            process.proc.send_signal(15)  # SIGTERM, with requests in flight
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)

    asyncio.run(run())
    assert process.wait() == 0
    stored = {event.event_id for event in read_inbox(data_dir_with_source).events}
    assert acked and set(acked) <= stored
    assert "Traceback" not in process.stderr
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", process.port), 1):
        pass  # no longer listening


def test_sigint_also_exits_zero(process: ReceiverProcess) -> None:
    assert process.proc is not None
    process.proc.send_signal(2)
    assert process.wait() == 0


def test_a_taken_port_is_a_failed_start(
    process: ReceiverProcess, data_dir_with_source: DataDir
) -> None:
    second = ReceiverProcess(data_dir_with_source)
    second.args[second.args.index("--port") + 1] = str(process.port)
    with pytest.raises(RuntimeError, match="exited"):
        second.start()
    assert second.proc is not None and second.proc.returncode not in (0, None)
    assert "address already in use" in second.stderr.lower()


def test_stderr_never_holds_keys_or_bodies(process: ReceiverProcess) -> None:
    body = event_body("01HSTDERRMARKER")
    httpx.post(process.endpoint(), content=body, headers=signed_headers(body, key="wrong"))
    httpx.post(process.endpoint("nobody"), content=body, headers=signed_headers(body))
    httpx.post(process.endpoint(), content=b"[]", headers=signed_headers(b"[]"))
    time.sleep(0.05)
    assert process.terminate() == 0
    assert "rejected (bad_signature)" in process.stderr  # the warning is there ...
    for secret in (KEY, "wrong", "01HSTDERRMARKER"):
        assert secret not in process.stderr  # ... without what it must not show
