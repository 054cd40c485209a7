"""A webhook that missed part of the stream, for the tests of what `deliveries` says it missed.

The sandbox's stream starts a day ago and its message history a day before that (one generator:
the delivery ids match). The webhook delivers part of the stream, then Customer.io gives up on a
stretch of it (the receiver was down past its retries), then delivers again; then the sandbox's
clock comes to now, so that `/v1/messages` lists every delivery of those days.
"""

from __future__ import annotations

import time

from cio_warehouse.sandbox import SandboxServer, Workspace

DAY = 86_400


def gapped_sandbox(workspace: Workspace, api_key: str) -> SandboxServer:
    """Unstarted; its stream starts a day ago, its history a day before that."""
    return SandboxServer(workspace, api_key=api_key, rate_limit_rps=None,
                         events_start=int(time.time()) - DAY, history_days=1)


def deliver_with_a_gap(sandbox: SandboxServer, before: int = 150, gap: int = 300,
                       after: int = 150) -> set[str]:
    """Deliver `before` events, skip `gap`, deliver `after`, then bring the clock to now.

    Returns the ids of the deliveries whose sent event was skipped (a later event of some of
    them may have been delivered)."""
    sandbox.send(before)
    assert sandbox.wait_delivered(60), sandbox.delivery_stats()
    skipped = sandbox.sender.next_events(gap)
    sandbox.send(after)
    assert sandbox.wait_delivered(60), sandbox.delivery_stats()
    delivered = {attempt.event_id for attempt in sandbox.delivery_log() if attempt.ok}
    assert delivered and not delivered & {event.event_id for event in skipped}
    sandbox.set_clock(time.time())
    return {e.delivery_id for e in skipped if e.delivery_id and e.metric == "sent"}
