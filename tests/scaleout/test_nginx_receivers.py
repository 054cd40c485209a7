"""Two receiver processes behind nginx on one shared PostgreSQL inbox: signed deliveries sent
concurrently through nginx, retried like Customer.io, while the receivers are killed -9 and
started again by turns; then the real loader drains the inbox. Every acknowledged event is in
the event tables exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import httpx
import pytest

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.inbox import InboxLocation
from cio_warehouse.webhooks.loader import EventLoader
from tests.helpers import DELIVERY_CHANNELS, add_source, delivery_body, free_port, wait_until
from tests.scaleout.conftest import Nginx, ReceiveProcess, pg_inbox, publish_keys
from tests.webhooks.conftest import KEY, signed_headers

pytestmark = pytest.mark.timeout(300)

N_EVENTS = 4000
SENDERS = 32
EVENT_TABLES = [f"{c}_events" for c in sorted(set(DELIVERY_CHANNELS))]


async def _send_all(url: str, acked: set[str], answered_by: Counter[str],
                    failures: Counter[str]) -> None:
    """Each event until a 2xx, as Customer.io retries (any failure: again, after a pause)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(N_EVENTS):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with httpx.AsyncClient(timeout=4.0, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                body = delivery_body(n, "NGINX")
                while True:
                    try:
                        reply = await client.post(url, content=body, headers=signed_headers(body))
                        if reply.status_code == 200:
                            acked.add(f"01JNGINX{n:018d}")
                            tried = reply.headers["x-upstream"].split(", ")
                            answered_by[tried[-1]] += 1
                            if len(tried) > 1:
                                answered_by["passed on by nginx"] += 1
                            break
                        failures[str(reply.status_code)] += 1
                    except httpx.HTTPError as exc:
                        failures[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(SENDERS)))


def test_two_receivers_behind_nginx_with_kills_store_every_acked_event_once(
    tmp_path: Path, data_dir: DataDir, store: StateStore, shared_inbox: InboxLocation,
    nginx_binary: Path,
) -> None:
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, shared_inbox)  # what `serve` does at start
    secret_key = data_dir.secret_key_file.read_text().strip()
    receivers = [ReceiveProcess(tmp_path, shared_inbox, secret_key, free_port()).start()
                 for _ in range(2)]
    nginx = Nginx(tmp_path, [r.port for r in receivers], upstream_header=True).start()
    acked: set[str] = set()
    answered_by: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    sender = threading.Thread(target=lambda: asyncio.run(
        _send_all(nginx.endpoint("acme"), acked, answered_by, failures)))
    kills = 0
    try:
        sender.start()
        # Kill -9 one receiver mid-stream, start it again a second later; then the other.
        for share, victim in ((0.2, receivers[0]), (0.45, receivers[1]), (0.7, receivers[0])):
            wanted = share * N_EVENTS
            wait_until(lambda wanted=wanted: len(acked) >= wanted or not sender.is_alive(),
                       f"{share:.0%} of the events acked", 120, interval=0.01,
                       detail=lambda: (len(acked), failures))
            if not sender.is_alive():
                break
            victim.kill()
            kills += 1
            time.sleep(1.0)
            victim.start()
        sender.join(180)
        assert not sender.is_alive()
    finally:
        nginx.stop()
        for receiver in receivers:
            receiver.kill()
    assert kills == 3 and len(acked) == N_EVENTS, (kills, len(acked), failures)
    # Both receivers answered, and nginx passed a killed one's requests on to the other.
    assert all(answered_by[f"127.0.0.1:{r.port}"] > N_EVENTS // 10 for r in receivers), (
        answered_by)
    assert answered_by["passed on by nginx"] > 0, answered_by
    assert all(r.starts == 2 or r.starts == 3 for r in receivers)
    assert not (tmp_path / "no-data-dir").exists()  # receivers need none

    inbox = pg_inbox(shared_inbox)
    try:
        health = inbox.health("acme")
    finally:
        inbox.close()
    assert health.backlog == N_EVENTS  # one inbox row per event, however often it was sent

    loader = EventLoader(data_dir, inbox=shared_inbox)
    try:
        stats = loader.drain()
    finally:
        loader.close()
    assert stats.events == N_EVENTS and stats.dead_letters == 0

    union = " union all ".join(f"select event_id from acme.{t}" for t in EVENT_TABLES)
    con = duckdb.connect(str(data_dir.warehouse), read_only=True)
    try:
        rows = con.execute(f"select event_id from ({union})").fetchall()
    finally:
        con.close()
    loaded = [r[0] for r in rows]
    assert len(loaded) == len(set(loaded)) == len(acked)  # exactly once
    assert acked <= set(loaded)
    print(f"answered by {dict(answered_by)}, failed attempts {dict(failures)}")
