"""No acknowledged event is lost or doubled when the receiver and the loader are killed -9 at
random moments: real processes, 10,000 signed deliveries sent concurrently, Customer.io-style
retries until acknowledged."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from dataclasses import replace

import httpx
import psutil

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from tests.helpers import (
    EVENT_TABLES,
    ServeProcess,
    add_source,
    cio_sign,
    delivery_body,
    run_cli,
    wait_until,
)

N_EVENTS = 10_000
SENDERS = 40
SIGNING_KEY = "6c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"


async def _send_all(url: str, acked: set[int], stop: threading.Event) -> None:
    """Each event is retried until it gets a 2xx, as Customer.io does (any failure: retry)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(N_EVENTS):
        queue.put_nowait(n)
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(transport=transport, timeout=4.0) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                body = delivery_body(n, "CRASH")
                while True:
                    ts = str(int(time.time()))
                    try:
                        response = await client.post(url, content=body, headers={
                            "X-CIO-Timestamp": ts,
                            "X-CIO-Signature": cio_sign(SIGNING_KEY, ts, body),
                            "Content-Type": "application/json"})
                        if 200 <= response.status_code < 300:
                            acked.add(n)
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(SENDERS)))
    stop.set()


def _receiver_pids(serve: ServeProcess) -> list[int]:
    assert serve.proc is not None
    try:
        children = psutil.Process(serve.proc.pid).children()
    except psutil.NoSuchProcess:
        return []
    return [c.pid for c in children if "receiver_process" in " ".join(c.cmdline())]


def test_kill_nine_receiver_and_loader_loses_and_doubles_nothing(
    store: StateStore, sandbox: SandboxServer, api_key: str
) -> None:
    source = add_source(store, sandbox, api_key, tables=EVENT_TABLES)
    store.update_source(replace(source, signing_key=Secret(SIGNING_KEY)))
    serve = ServeProcess(store.data_dir).start()
    url = f"{serve.webhook_base}/webhooks/customerio/acme"
    acked: set[int] = set()
    done = threading.Event()
    sender = threading.Thread(target=lambda: asyncio.run(_send_all(url, acked, done)))
    started = time.monotonic()
    sender.start()
    rng = random.Random(7)
    kills = {"receiver": 0, "service": 0}
    try:
        while not done.is_set() and (kills["receiver"] < 4 or kills["service"] < 3):
            time.sleep(rng.uniform(0.8, 2.0))
            if done.is_set():
                break
            if kills["receiver"] <= kills["service"]:
                for pid in _receiver_pids(serve):
                    psutil.Process(pid).kill()  # the service starts a new one
                kills["receiver"] += 1
            else:
                serve.kill()  # the loader and the API die; the receiver follows
                serve = ServeProcess(store.data_dir, serve.port, serve.webhook_port).start()
                kills["service"] += 1
        sender.join(timeout=600)
        sent_in = time.monotonic() - started
        assert not sender.is_alive()
        assert len(acked) == N_EVENTS
        assert kills["receiver"] >= 2 and kills["service"] >= 2, kills

        tables = ["email_events", "push_events", "sms_events", "in_app_events",
                  "customer_events", "webhook_events", "slack_events"]
        union = " union all ".join(f"select event_id from acme.{t}" for t in tables)
        sql = f"select count(*) as n, count(distinct event_id) as d from ({union})"
        rows: list[dict[str, int]] = []
        result = None

        def loaded() -> bool:
            nonlocal rows, result
            result = run_cli(store.data_dir, "query", sql, "--format", "json")
            if result.code == 0:
                rows = json.loads(result.stdout)
                return rows[0]["n"] >= N_EVENTS
            return False

        wait_until(loaded, f"{N_EVENTS} events in the warehouse", 120, interval=1,
                   detail=lambda: (rows, kills, result))
        assert rows == [{"n": N_EVENTS, "d": N_EVENTS}], (rows, kills, result)
        print(f"kills: {kills}, sent in {sent_in:.1f}s")
    finally:
        serve.stop()
