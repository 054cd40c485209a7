"""The sandbox's webhook sender (a second, independent reading of the spec) against the receiver."""

from __future__ import annotations

from collections import Counter

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.sandbox.lanes import Mode
from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS
from cio_warehouse.state import DataDir, StateStore
from tests.helpers import add_source
from tests.webhooks.conftest import ReceiverServer, fresh_name, read_inbox

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def linked(
    sandbox: SandboxServer, shared_store: StateStore, receiver: ReceiverServer
) -> tuple[str, int]:
    """A source whose key is the one a user copies from the sandbox's Reporting Webhooks page."""
    source = fresh_name()
    hook = sandbox.state.webhooks.create({
        "name": "cio-warehouse", "endpoint": receiver.endpoint(source),
        "events": sorted(SUBSCRIBABLE_EVENTS),
    })
    add_source(shared_store, name=source, signing_key=sandbox.signing_key(hook["id"]))
    return source, hook["id"]


def test_sandbox_deliveries_are_verified_stored_and_deduplicated(
    sandbox: SandboxServer, linked: tuple[str, int], shared_dir: DataDir
) -> None:
    source, hook = linked
    sent = sandbox.send(40, webhook_id=hook)
    assert sandbox.wait_delivered(20)
    attempts = sandbox.delivery_log()
    assert len(attempts) == 40 and all(a.ok and a.status == 200 for a in attempts)
    assert sorted(e.event_id for e in read_inbox(shared_dir, source).events) == sorted(
        sent.event_ids
    )

    sandbox.clear_delivery_log()
    sandbox.send(10, webhook_id=hook, mode="duplicate")  # Customer.io-style retries
    assert sandbox.wait_delivered(20)
    assert all(a.ok for a in sandbox.delivery_log())
    inbox = read_inbox(shared_dir, source)
    assert len(inbox.events) == 40
    assert inbox.health.counters["duplicates"] == 10


def test_sandbox_probes_get_the_answers_customer_io_expects(
    sandbox: SandboxServer, linked: tuple[str, int], shared_dir: DataDir
) -> None:
    source, hook = linked
    probes: tuple[Mode, ...] = ("stale", "bad_signature", "unsigned", "bad_body")
    for mode in probes:
        sandbox.send(1, webhook_id=hook, mode=mode)
    assert sandbox.wait_delivered(20)
    statuses = {a.mode: a.status for a in sandbox.delivery_log()}
    assert statuses == {"stale": 401, "bad_signature": 401, "unsigned": 401, "bad_body": 200}
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == [] and len(inbox.dead_letters) == 1
    assert Counter(inbox.health.counters) >= Counter({
        "rejected:stale_timestamp": 1, "rejected:bad_signature": 1,
        "rejected:missing_signature": 1, "dead_letters": 1,
    })
