"""Removing a source also forgets its pending deliveries, so they cannot bring its dataset back."""

import time

from cio_warehouse import webhook_links
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission


def test_forget_source_purges_its_inbox_rows(store: StateStore) -> None:
    for name in ("acme", "other"):
        store.add_source(SourceConfig(name=name, region="us", app_api_key=Secret("k" * 20)))
    inbox = Inbox(store.data_dir.inbox)
    try:
        inbox.write([
            Submission(name, Kind.EVENT, time.time(), b"{}", f"ev-{name}")
            for name in ("acme", "other")
        ])
        webhook_links.forget_source(store, "acme")
        assert store.source_names() == ["other"]
        assert [e.source for e in inbox.pending_events(10)] == ["other"]
        assert inbox.health("acme").counters == {}
        assert inbox.health("other").backlog == 1
    finally:
        inbox.close()
