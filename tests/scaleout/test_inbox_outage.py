"""The shared inbox's PostgreSQL goes down and comes back: the receiver answers 503 meanwhile
(Customer.io retries; nothing is acked that is not stored) and 200 again once it is back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.inbox import InboxLocation
from tests.helpers import add_source, free_port, wait_until
from tests.scaleout.conftest import ReceiveProcess, pg_inbox, publish_keys
from tests.services.postgres import PostgresServer, remove, start_postgres
from tests.webhooks.conftest import KEY, ReceiverServer, event_body, signed_headers

pytestmark = pytest.mark.timeout(120)

N_EVENTS = 600
SENDERS = 16


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started again."""
    server = start_postgres()
    try:
        yield server
    finally:
        remove(server)


async def _send(url: str, acked: set[str], statuses: Counter[int], outage: threading.Event,
                n_events: int) -> None:
    """Each event until a 2xx, as Customer.io retries (any failure: again, after a pause)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(n_events):
        queue.put_nowait(n)
    async with httpx.AsyncClient(timeout=4.0) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                event_id = f"01OUTAGE{n:018d}"
                body = event_body(event_id)
                while True:
                    try:
                        reply = await client.post(url, content=body,
                                                  headers=signed_headers(body))
                        statuses[reply.status_code] += 1
                        if reply.status_code == 200:
                            acked.add(event_id)
                            break
                        assert reply.status_code == 503, reply.text
                        assert reply.headers["retry-after"]
                    except httpx.HTTPError:
                        statuses[0] += 1
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.01 if not outage.is_set() else 0)

        await asyncio.gather(*(worker() for _ in range(SENDERS)))


def test_postgres_down_is_503_and_back_is_200_and_nothing_acked_is_lost(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    inbox = InboxLocation(url=Secret(own_postgres.create_database("outage")))
    data_dir = DataDir(tmp_path / "data").create()
    store = StateStore(data_dir)
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, inbox)
    receiver = ReceiverServer(data_dir, inbox=inbox).start()
    acked: set[str] = set()
    statuses: Counter[int] = Counter()
    outage = threading.Event()
    try:
        sender = threading.Thread(target=lambda: asyncio.run(
            _send(receiver.endpoint("acme"), acked, statuses, outage, N_EVENTS)))
        sender.start()
        wait_until(lambda: len(acked) >= N_EVENTS // 4, "a quarter of the events acked",
                   interval=0.01, detail=lambda: statuses)
        outage.set()
        own_postgres.stop("immediate")  # as a crash: no goodbye to the sessions
        during = len(acked)
        time.sleep(3)  # past the signing-key cache: keys cannot be re-read either
        # Nothing was acked while the inbox was down (a few in flight at the stop may be).
        assert len(acked) - during <= SENDERS, (during, len(acked))
        refused_before_restart = statuses[503]
        assert refused_before_restart > 0
        own_postgres.start()
        outage.clear()
        sender.join(60)
        assert not sender.is_alive()
    finally:
        receiver.stop()
    assert len(acked) == N_EVENTS and statuses[500] == 0, statuses
    box = pg_inbox(inbox)
    try:
        stored = [e.event_id for e in box.pending_events(10 * N_EVENTS)]
        health = box.health("acme")
    finally:
        box.close()
    assert len(stored) == len(set(stored)) == N_EVENTS  # every acked event, once
    assert set(stored) == acked
    # The health counters are committed without waiting for the WAL flush (inbox/postgres.py):
    # a server crash may lose the last of them, never count an event twice.
    assert health.counters["stored"] <= N_EVENTS


def test_a_receiver_started_while_postgres_is_down_answers_503_then_200(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    """After a reboot the receivers may come up before the database: they start, answer 503
    (Customer.io retries) and store deliveries once it is there, with no restart."""
    inbox = InboxLocation(url=Secret(own_postgres.create_database("late")))
    data_dir = DataDir(tmp_path / "data").create()
    store = StateStore(data_dir)
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, inbox)
    own_postgres.stop()
    secret_key = data_dir.secret_key_file.read_text().strip()
    receiver = ReceiveProcess(tmp_path, inbox, secret_key, free_port()).start()
    url = f"http://127.0.0.1:{receiver.port}/webhooks/customerio/acme"
    try:
        body = event_body("01LATEPOSTGRES000000000001")
        first = httpx.post(url, content=body, headers=signed_headers(body), timeout=30)
        assert first.status_code == 503 and first.headers["retry-after"], first.text
        own_postgres.start()
        reply = first

        def stored() -> bool:  # as Customer.io retries
            nonlocal reply
            reply = httpx.post(url, content=body, headers=signed_headers(body), timeout=30)
            if reply.status_code != 200:
                assert reply.status_code == 503, reply.text
            return reply.status_code == 200

        wait_until(stored, "a 200", 60, interval=0.5, detail=lambda: reply.text)
        assert reply.status_code == 200, reply.text
    finally:
        assert receiver.terminate() == 0
    box = pg_inbox(inbox)
    try:
        assert [e.event_id for e in box.pending_events(10)] == ["01LATEPOSTGRES000000000001"]
    finally:
        box.close()
    assert "Traceback" not in receiver.stderr_path.read_text()
