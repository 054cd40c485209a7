"""The inbox's claim for some sources only: a paused source's rows stay pending, untouched."""

import time

from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission


def test_a_claim_for_some_sources_leaves_the_others_pending(store: StateStore) -> None:
    inbox = Inbox(store.data_dir.inbox)
    try:
        inbox.write([
            submission
            for name in ("acme", "other")
            for submission in (
                Submission(name, Kind.EVENT, time.time(), b"{}", f"ev-{name}"),
                Submission(name, Kind.DEAD_LETTER, time.time(), b"[", reason="not an object"),
            )
        ])
        assert [e.source for e in inbox.pending_events(10, ["other"])] == ["other"]
        assert [d.source for d in inbox.pending_dead_letters(10, ["other"])] == ["other"]
        assert inbox.pending_events(10, []) == []
        assert {e.source for e in inbox.pending_events(10)} == {"acme", "other"}
    finally:
        inbox.close()
