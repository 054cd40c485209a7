"""send_deliveries (tests/helpers.py) queues a count of deliveries, where `send(n)` draws n events
of the stream, some of which no webhook of ours wants."""

from __future__ import annotations

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.webhooks.registration import subscribed_events
from tests.helpers import send_deliveries

from .conftest import KEY
from .receiver import Receiver

# A stream start (a second) whose first events, in the browser tests' workspace, are a repeat
# email open and a WhatsApp send: the webhook the product registers wants neither. Should the
# generator change, the first assertion fails: pick another such second.
QUIET_START = 1_794_279_348


def test_two_draws_can_queue_nothing_and_send_deliveries_queues_two() -> None:
    with Receiver() as rx, SandboxServer(
        Workspace.preset("small", seed=7), api_key=KEY, events_start=QUIET_START
    ) as sandbox:
        # As the product registers it (webhooks/registration.py): every webhook table's events,
        # repeats not sent ("Send Frequency: first time").
        sandbox.state.webhooks.create({
            "name": "cio-warehouse", "endpoint": rx.url, "full_resolution": False,
            "events": subscribed_events([t.name for t in catalog.WEBHOOK_TABLES]),
        })
        assert sum(sandbox.send(2).queued.values()) == 0
        assert sandbox.wait_delivered(5)  # nothing pending: a wait that proves nothing

        assert send_deliveries(sandbox, 2) == 2
        assert sandbox.wait_delivered(30)
        assert len(rx.received()) == 2
