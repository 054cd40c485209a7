"""Hundreds of concurrent signed deliveries: every 2xx is in the inbox exactly once.

Against the real receiver process: a receiver in a thread of the test process would share the
GIL with the client and measure mostly that.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cio_warehouse.state import DataDir, StateStore
from tests.helpers import add_source
from tests.webhooks.conftest import (
    KEY,
    ReceiverProcess,
    event_body,
    nodelay_transport,
    read_inbox,
    signed_headers,
)

pytestmark = pytest.mark.timeout(60)

DELIVERIES = 500
DISTINCT = 420  # the other 80 repeat an event: Customer.io retries and full_resolution resends
CLIENTS = 25  # each with a connection per delivery: all 500 are in flight at once


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ReceiverProcess]:
    data_dir = DataDir(tmp_path / "data").create()
    add_source(StateStore(data_dir), signing_key=KEY)
    receiver = ReceiverProcess(data_dir).start()
    yield receiver
    receiver.kill()


async def deliver_all(receiver: ReceiverProcess) -> list[tuple[str, int, str]]:
    ids = [f"01HCONC{n:019d}" for n in range(DISTINCT)]
    ids += random.Random(7).choices(ids, k=DELIVERIES - DISTINCT)
    random.Random(8).shuffle(ids)
    bodies = {event_id: event_body(event_id) for event_id in set(ids)}

    # Several clients rather than one client with 500 connections: httpcore's pool assigns
    # requests to connections in O(requests x connections), which would measure only that.
    async def one_client(share: list[str]) -> list[tuple[str, int, str]]:
        transport = nodelay_transport(len(share))
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:

            async def one(event_id: str) -> tuple[str, int, str]:
                body = bodies[event_id]
                reply = await client.post(receiver.endpoint(), content=body,
                                          headers=signed_headers(body))
                result = reply.json().get("result", "") if reply.status_code == 200 else ""
                return event_id, reply.status_code, result

            return await asyncio.gather(*(one(event_id) for event_id in share))

    shares = [ids[n::CLIENTS] for n in range(CLIENTS)]
    per_client = await asyncio.gather(*(one_client(share) for share in shares))
    return [outcome for outcomes in per_client for outcome in outcomes]


def test_every_acked_delivery_is_stored_exactly_once(process: ReceiverProcess) -> None:
    outcomes = asyncio.run(deliver_all(process))
    acked = [event_id for event_id, status, _ in outcomes if 200 <= status < 300]
    assert len(acked) == DELIVERIES  # nothing here should make the receiver refuse

    inbox = read_inbox(process.data_dir)
    rows = Counter(event.event_id for event in inbox.events)
    assert set(rows) == set(acked)
    assert max(rows.values()) == 1

    results = Counter(result for _, _, result in outcomes)
    assert results == {"stored": DISTINCT, "duplicate": DELIVERIES - DISTINCT}
    counters = inbox.health.counters
    assert counters == {"received": DELIVERIES, "stored": DISTINCT,
                        "duplicates": DELIVERIES - DISTINCT}
    assert process.terminate() == 0
