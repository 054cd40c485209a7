"""A receiver on the shared inbox, over real HTTP: the SQLite receiver's answers, with the
signing keys read from what the service published in the inbox database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from cio_warehouse.state import DataDir, StateError, StateStore
from cio_warehouse.webhooks.inbox import InboxLocation
from cio_warehouse.webhooks.published_keys import KeyPublisher
from cio_warehouse.webhooks.receiver import create_receiver_app
from tests.helpers import add_source, wait_until
from tests.scaleout.conftest import pg_inbox, publish_keys
from tests.webhooks.conftest import (
    KEY,
    ReceiverServer,
    event_body,
    set_keys,
    signed_headers,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def receiver(data_dir: DataDir, store: StateStore,
             shared_inbox: InboxLocation) -> Iterator[ReceiverServer]:
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, shared_inbox)
    server = ReceiverServer(data_dir, inbox=shared_inbox).start()
    yield server
    server.stop()


def post(client: httpx.Client, receiver: ReceiverServer, body: bytes, source: str = "acme",
         key: str = KEY) -> httpx.Response:
    return client.post(receiver.endpoint(source), content=body,
                       headers=signed_headers(body, key=key))


def test_stored_once_duplicates_dead_letters_and_rejections_are_counted(
    receiver: ReceiverServer, shared_inbox: InboxLocation
) -> None:
    body = event_body("01SHAREDINBOX0000000000001")
    with httpx.Client(timeout=10) as client:
        assert post(client, receiver, body).json() == {"ok": True, "result": "stored"}
        assert post(client, receiver, body).json() == {"ok": True, "result": "duplicate"}
        assert post(client, receiver, b"[1, 2]").json()["result"] == "dead_lettered"
        assert post(client, receiver, body, key="wrong").status_code == 401
    inbox = pg_inbox(shared_inbox)
    try:
        assert [(e.event_id, e.body) for e in inbox.pending_events(10)] == [
            ("01SHAREDINBOX0000000000001", body)]
        assert [d.body for d in inbox.pending_dead_letters(10)] == [b"[1, 2]"]
        health = inbox.health("acme")
        assert health.counters == {"received": 4, "stored": 1, "duplicates": 1,
                                   "dead_letters": 1, "rejected:bad_signature": 1}
        assert health.consecutive_rejections == 1 and health.backlog == 1
    finally:
        inbox.close()


def test_sources_and_keys_follow_what_the_service_publishes(
    receiver: ReceiverServer, store: StateStore, shared_inbox: InboxLocation
) -> None:
    with httpx.Client(timeout=10) as client:
        assert post(client, receiver, event_body(), source="newcomer").status_code == 404
        add_source(store, name="newcomer")
        publish_keys(store, shared_inbox)
        # Known, without a key yet: acked and counted as dropped (Customer.io would otherwise
        # hold every later delivery back).
        assert post(client, receiver, event_body(), source="newcomer").json()["result"] == (
            "dropped")
        set_keys(store, "a-new-key", name="newcomer")
        publish_keys(store, shared_inbox)
        # Read at once, not after the key cache's second: a source without a key is re-read.
        assert post(client, receiver, event_body(), source="newcomer",
                    key="a-new-key").json()["result"] == "stored"
        # Rotation: the new key and the previous one both verify.
        set_keys(store, "the-next-key", previous="a-new-key", name="newcomer")
        publish_keys(store, shared_inbox)
        for key in ("the-next-key", "a-new-key"):
            reply = post(client, receiver, event_body(), source="newcomer", key=key)
            assert reply.json()["result"] == "stored", key
        store.remove_source("newcomer")
        publish_keys(store, shared_inbox)
        receiver.app.receiver.keys.forget()
        assert post(client, receiver, event_body(), source="newcomer").status_code == 404


def test_the_publisher_publishes_changes_by_itself(
    data_dir: DataDir, store: StateStore, shared_inbox: InboxLocation
) -> None:
    assert shared_inbox.url is not None
    add_source(store, name="acme", signing_key=KEY)
    publisher = KeyPublisher(store, shared_inbox.url, interval=0.05).start()
    server = ReceiverServer(data_dir, inbox=shared_inbox).start()
    try:
        with httpx.Client(timeout=10) as client:
            assert post(client, server, event_body()).status_code == 200
            add_source(store, name="later", signing_key=KEY)
            wait_until(  # published within a round or two (of 0.05 s)
                lambda: post(client, server, event_body(), source="later").status_code == 200,
                "the new source to be published", 10, interval=0.01)
    finally:
        server.stop()
        publisher.stop()


def test_a_receiver_needs_the_service_secret_key(
    tmp_path: Path, store: StateStore, shared_inbox: InboxLocation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, shared_inbox)
    elsewhere = DataDir(tmp_path / "another-machine")  # no data dir there
    monkeypatch.delenv("CIO_WAREHOUSE_SECRET_KEY", raising=False)
    with pytest.raises(StateError, match="needs the service's secret key"):
        create_receiver_app(elsewhere, inbox=shared_inbox)
    assert not elsewhere.root.exists()  # and nothing was created in its place
    monkeypatch.setenv("CIO_WAREHOUSE_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(StateError, match="cannot be decrypted with this receiver's secret key"):
        create_receiver_app(elsewhere, inbox=shared_inbox)
    monkeypatch.setenv("CIO_WAREHOUSE_SECRET_KEY",
                       store.data_dir.secret_key_file.read_text().strip())
    create_receiver_app(elsewhere, inbox=shared_inbox)  # the service's key opens them


def test_published_keys_are_encrypted(
    store: StateStore, shared_inbox: InboxLocation, postgres_server: object
) -> None:
    add_source(store, name="acme", signing_key=KEY)
    publish_keys(store, shared_inbox)
    assert shared_inbox.url is not None
    import psycopg2

    with psycopg2.connect(shared_inbox.url.reveal()) as conn, conn.cursor() as cur:
        cur.execute("SELECT signing_key, previous_signing_key FROM cio_inbox.signing_keys")
        (sealed, previous), = cur.fetchall()
    conn.close()
    assert previous is None and KEY.encode() not in bytes(sealed)
    assert bytes(sealed).startswith(b"gAAAA")  # a Fernet token


def test_logs_never_hold_the_inbox_password(
    receiver: ReceiverServer, shared_inbox: InboxLocation, caplog: pytest.LogCaptureFixture
) -> None:
    assert shared_inbox.url is not None
    password = shared_inbox.url.reveal().split(":")[2].split("@")[0]
    assert str(receiver.app.receiver.committer.inbox_path).count("***") == 1
    with caplog.at_level(logging.DEBUG), httpx.Client(timeout=10) as client:
        post(client, receiver, event_body(), key="wrong")
        post(client, receiver, event_body())
    assert password not in caplog.text
