"""A full disk under the real receiver process: 503 for whatever it could not store (Customer.io
retries), never a 200 for an event it lost, never a 500, and it takes deliveries again once the
space is back."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cio_warehouse.state import DataDir, StateStore
from tests.faults.disks import FileSizeLimit, FilledTmpfs, FullDisk, tmpfs
from tests.helpers import add_source
from tests.webhooks.conftest import (
    KEY,
    ReceiverProcess,
    event_body,
    nodelay_transport,
    read_inbox,
    signed_headers,
)

pytestmark = pytest.mark.timeout(180)

CONCURRENCY = 8  # deliveries in flight at once, so that groups of several fail together
PADDING = "x" * 2000  # bigger bodies fill the inbox's pages sooner
FULL_ROUNDS = 5  # rounds in a row where no delivery got a 200: the disk is full for good
# Far more than the few free pages take (a few dozen deliveries): a receiver still acking them
# all claims to store what the disk cannot hold.
MAX_DELIVERIES = 800


@pytest.fixture(params=["file-size-limit", "full-tmpfs"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[DataDir, FullDisk]]:
    root = tmp_path / "data"
    if request.param == "file-size-limit":
        yield DataDir(root).create(), FileSizeLimit(root)
        return
    with tmpfs(root) as mounted:
        if not mounted:
            # The file-size-limit case runs everywhere (no root needed) and covers disk full.
            pytest.skip("mount -t tmpfs is not permitted here")
        yield DataDir(root).create(), FilledTmpfs(root)


@pytest.fixture
def receiver(disk: tuple[DataDir, FullDisk]) -> Iterator[ReceiverProcess]:
    data_dir, _ = disk
    add_source(StateStore(data_dir), signing_key=KEY)
    process = ReceiverProcess(data_dir).start()  # its stderr goes to a file outside the data dir
    yield process
    process.kill()


async def _deliver(url: str, event_ids: list[str]) -> dict[str, httpx.Response]:
    async with httpx.AsyncClient(transport=nodelay_transport(CONCURRENCY), timeout=10) as client:
        async def one(event_id: str) -> tuple[str, httpx.Response]:
            body = event_body(event_id, padding=PADDING)
            return event_id, await client.post(url, content=body, headers=signed_headers(body))

        replies: dict[str, httpx.Response] = {}
        for start in range(0, len(event_ids), CONCURRENCY):
            replies.update(await asyncio.gather(
                *(one(e) for e in event_ids[start:start + CONCURRENCY])
            ))
        return replies


def deliver(receiver: ReceiverProcess, event_ids: list[str]) -> dict[str, int]:
    """Signed deliveries, CONCURRENCY at a time; each event_id's status."""
    replies = asyncio.run(_deliver(receiver.endpoint(), event_ids))
    for reply in replies.values():
        if reply.status_code == 503:
            assert reply.headers["retry-after"]
    return {event_id: reply.status_code for event_id, reply in replies.items()}


def deliver_until_full(receiver: ReceiverProcess) -> dict[str, int]:
    """Deliveries until FULL_ROUNDS rounds in a row got no 200."""
    statuses: dict[str, int] = {}
    full_rounds = 0
    while full_rounds < FULL_ROUNDS:
        assert len(statuses) < MAX_DELIVERIES, "the receiver acks more than the full disk holds"
        batch = [f"01HFULL{len(statuses) + i:08d}" for i in range(CONCURRENCY)]
        got = deliver(receiver, batch)
        statuses.update(got)
        full_rounds = 0 if 200 in got.values() else full_rounds + 1
    return statuses


def test_a_full_disk_is_503_until_space_is_back_and_no_acked_event_is_lost(
    disk: tuple[DataDir, FullDisk], receiver: ReceiverProcess
) -> None:
    data_dir, full_disk = disk
    assert receiver.proc is not None
    pid = receiver.proc.pid

    before = [f"01HBEFORE{i:08d}" for i in range(2 * CONCURRENCY)]
    assert set(deliver(receiver, before).values()) == {200}

    full_disk.fill(pid)
    while_full = deliver_until_full(receiver)
    assert set(while_full.values()) <= {200, 503}  # never a 500: Customer.io would wait an hour
    refused = [e for e, status in while_full.items() if status == 503]
    assert len(refused) >= FULL_ROUNDS * CONCURRENCY
    assert receiver.proc.poll() is None, "the receiver died of the full disk"

    full_disk.free(pid)
    # Customer.io's retries of what was refused, then new deliveries: all stored now.
    assert set(deliver(receiver, refused).values()) == {200}
    after = [f"01HAFTER{i:08d}" for i in range(2 * CONCURRENCY)]
    assert set(deliver(receiver, after).values()) == {200}
    assert receiver.terminate() == 0

    inbox = read_inbox(data_dir)
    copies = collections.Counter(event.event_id for event in inbox.events)
    acked = set(before) | set(while_full) | set(after)  # each got a 200, first time or retried
    assert set(copies) == acked  # nothing acked is missing, nothing unacked slipped in
    assert set(copies.values()) == {1}  # and each is there once
    assert inbox.health.counters["stored"] == len(acked)

    log = receiver.stderr
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if "cannot commit" in line]
    # The cause and what to do, said once (a disk with a few free pages left fails and commits by
    # turns: once more after a recovery), not once per failed group.
    assert 1 <= len(errors) <= 3, log
    assert "disk" in errors[0] and "free disk space" in errors[0]
