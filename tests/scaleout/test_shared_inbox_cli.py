"""With $CIO_WAREHOUSE_INBOX set, the CLI works on the shared inbox: a signing key reaches remote
receivers before Customer.io is told to send, status reads the shared counts, and removing a
source purges its waiting deliveries there."""

from __future__ import annotations

import time

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.inbox import ENV_INBOX, InboxLocation, Kind, Submission
from cio_warehouse.webhooks.published_keys import PublishedKeys, receiver_secret_key
from tests.helpers import EVENT_TABLES, add_source, run_cli
from tests.scaleout.conftest import pg_inbox


def test_the_cli_follows_the_shared_inbox(
    store: StateStore, sandbox: SandboxServer, api_key: str, shared_inbox: InboxLocation
) -> None:
    assert shared_inbox.url is not None
    env = {ENV_INBOX: shared_inbox.url.reveal()}
    add_source(store, sandbox, api_key, tables=EVENT_TABLES)
    registered = run_cli(store.data_dir, "webhook", "register", "acme", "--url",
                         "https://cio.example.com", env=env)
    assert registered.code == 0, registered.output
    saved = run_cli(store.data_dir, "webhook", "signing-key", "acme", env=env,
                    stdin="f" * 64 + "\n")
    assert saved.code == 0, saved.output
    # Published by the command itself, not by a service's next round.
    keys = PublishedKeys(shared_inbox.url, receiver_secret_key(store.data_dir))
    try:
        assert keys.get_source("acme").signing_key == Secret("f" * 64)
    finally:
        keys.close()

    inbox = pg_inbox(shared_inbox)
    try:
        inbox.write([Submission("acme", Kind.EVENT, time.time(), b"{}", f"E{n}")
                     for n in range(3)])
        status = run_cli(store.data_dir, "webhook", "status", "acme", env=env)
        backlog = next(line for line in status.stdout.splitlines() if "inbox backlog" in line)
        assert "3" in backlog, status.output
        removed = run_cli(store.data_dir, "source", "remove", "acme", env=env)
        assert removed.code == 0, removed.output
        assert inbox.health("acme").backlog == 0
    finally:
        inbox.close()
