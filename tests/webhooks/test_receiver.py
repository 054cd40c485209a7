"""The receiver over real HTTP: every branch's status, what the inbox holds, the health counters.

Most tests share one receiver (module scope) and get a source of their own; tests that need other
settings start their own receiver on a data dir of their own.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.receiver import ReceiverSettings
from tests.helpers import add_source
from tests.webhooks.conftest import (
    KEY,
    SOURCE,
    ReceiverServer,
    cio_signature,
    event_body,
    fresh_name,
    read_inbox,
    set_keys,
    signed_headers,
)

pytestmark = pytest.mark.timeout(30)

Start = Callable[..., ReceiverServer]


@pytest.fixture
def keyed(store: StateStore) -> StateStore:
    """SOURCE with KEY in the per-test data dir (for tests that start their own receiver)."""
    add_source(store, signing_key=KEY)
    return store


def post(
    client: httpx.Client, receiver: ReceiverServer, source: str, body: bytes, *,
    key: str = KEY, timestamp: int | None = None,
) -> httpx.Response:
    return client.post(receiver.endpoint(source), content=body,
                       headers=signed_headers(body, key=key, timestamp=timestamp))


def raw_request(server: ReceiverServer, data: bytes, *, close_early: bool = False) -> bytes:
    """Send bytes that no HTTP client library would produce; the reply's raw bytes (or b"")."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        if close_early:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def request_head(source: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST /webhooks/customerio/{source} HTTP/1.1", "Host: x",
             f"Content-Length: {len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- the happy path -----------------------------------------------------------------------------


def test_a_signed_event_is_stored_byte_for_byte_then_acked(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    body = event_body("01E4C4CT6YDC7Y5M7FE1GWWPQJ")
    reply = post(client, receiver, source, body)
    assert reply.status_code == 200
    assert reply.json() == {"ok": True, "result": "stored"}
    assert "server" not in reply.headers  # no version banner
    inbox = read_inbox(shared_dir, source)
    assert [(e.source, e.event_id, e.body) for e in inbox.events] == [
        (source, "01E4C4CT6YDC7Y5M7FE1GWWPQJ", body)
    ]
    assert inbox.health.counters == {"received": 1, "stored": 1}
    assert inbox.health.last_delivery_at is not None and inbox.health.backlog == 1


def test_a_delivery_sent_twice_is_one_row_and_a_duplicate(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    body = event_body()
    first = post(client, receiver, source, body)
    # A retry carries a fresh X-CIO-Timestamp (the spec: the time the request was sent).
    retry = post(client, receiver, source, body, timestamp=int(time.time()) + 1)
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == {"ok": True, "result": "duplicate"}
    inbox = read_inbox(shared_dir, source)
    assert len(inbox.events) == 1
    assert inbox.health.counters == {"received": 2, "stored": 1, "duplicates": 1}


def test_the_same_event_id_in_two_sources_is_two_rows(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir,
    shared_store: StateStore,
) -> None:
    other = fresh_name()
    add_source(shared_store, name=other, signing_key=KEY)
    body = event_body()
    assert post(client, receiver, source, body).json()["result"] == "stored"
    assert post(client, receiver, other, body).json()["result"] == "stored"
    assert len(read_inbox(shared_dir, source).events) == 1
    assert len(read_inbox(shared_dir, other).events) == 1


def test_unknown_object_types_are_kept(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    reply = post(client, receiver, source, event_body(object_type="carrier_pigeon"))
    assert reply.status_code == 200 and len(read_inbox(shared_dir, source).events) == 1


# -- routing: 405 and 404 store nothing ------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(
    method: str, source: str, receiver: ReceiverServer, client: httpx.Client,
    shared_dir: DataDir,
) -> None:
    body = event_body()
    reply = client.request(method, receiver.endpoint(source), content=body,
                           headers=signed_headers(body))
    assert reply.status_code == 405
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == [] and inbox.health.counters == {}


@pytest.mark.parametrize(
    "path", ["/", "/docs", "/openapi.json", "/redoc", "/webhooks/customerio",
             "/webhooks/customerio/{source}/", "/webhooks/customerio/{source}/extra",
             "/webhooks/customerio/{SOURCE}", "/webhooks/{source}"]
)
def test_no_other_routes(
    path: str, source: str, receiver: ReceiverServer, client: httpx.Client,
    shared_dir: DataDir,
) -> None:
    body = event_body()
    url = receiver.url + path.format(source=source, SOURCE=source.upper())
    reply = client.post(url, content=body, headers=signed_headers(body))
    assert reply.status_code == 404
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == [] and inbox.health.counters == {}


def test_an_unknown_source_is_404_until_it_is_added(
    store: StateStore, start_receiver: Start, client: httpx.Client, data_dir: DataDir
) -> None:
    # A cache TTL far longer than the test: the new source is seen because an unknown name is
    # always looked up again, not because a cache expired.
    receiver = start_receiver(ReceiverSettings(key_cache_seconds=3600))
    body = event_body()
    assert post(client, receiver, SOURCE, body).status_code == 404
    inbox = read_inbox(data_dir)
    assert inbox.events == [] and inbox.health.counters == {}
    add_source(store, signing_key=KEY)  # no restart: the next delivery finds it
    assert post(client, receiver, SOURCE, body).status_code == 200
    assert len(read_inbox(data_dir).events) == 1


# -- no signing key yet: acked and dropped -------------------------------------------------------


def test_no_signing_key_yet_is_200_dropped_then_a_saved_key_is_used_at_once(
    store: StateStore, start_receiver: Start, client: httpx.Client, data_dir: DataDir
) -> None:
    receiver = start_receiver(ReceiverSettings(key_cache_seconds=3600))
    add_source(store)
    body = event_body()
    reply = post(client, receiver, SOURCE, body)
    assert reply.status_code == 200 and reply.json() == {"ok": True, "result": "dropped"}
    inbox = read_inbox(data_dir)
    assert inbox.events == [] and inbox.dead_letters == []
    assert inbox.health.counters == {"received": 1, "dropped": 1}

    set_keys(store, KEY)
    assert post(client, receiver, SOURCE, body).json()["result"] == "stored"


# -- rejections: 401, nothing stored, counted ----------------------------------------------------


def _headers_for(case: str, body: bytes) -> dict[str, Any]:
    now = int(time.time())
    good = signed_headers(body)
    ts, sig = good["X-CIO-Timestamp"], good["X-CIO-Signature"]
    cases: dict[str, dict[str, Any]] = {
        "missing_signature": {"X-CIO-Timestamp": ts},
        "missing_timestamp": {"X-CIO-Signature": sig},
        "missing_both": {},
        "bad_timestamp": {"X-CIO-Timestamp": "yesterday", "X-CIO-Signature": sig},
        "fractional_timestamp": {"X-CIO-Timestamp": ts + ".5", "X-CIO-Signature": sig},
        "unicode_timestamp": {"X-CIO-Timestamp": "١٧٠٠٠٠٠٠٠٠".encode(),
                              "X-CIO-Signature": sig},
        "stale_timestamp": signed_headers(body, timestamp=now - 301),
        "future_timestamp": signed_headers(body, timestamp=now + 400),
        "wrong_key": signed_headers(body, key="not-the-signing-key"),
        "non_hex_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": "zz" * 32},
        "short_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": sig[:-2]},
        "long_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": sig + "00"},
        "uppercase_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": sig.upper()},
        "unicode_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": ("é" * 32).encode()},
        "latin1_signature": {"X-CIO-Timestamp": ts, "X-CIO-Signature": b"\xff\xfe" * 32},
    }
    return cases[case]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing_signature", "missing_signature"),
        ("missing_timestamp", "missing_timestamp"),
        ("missing_both", "missing_signature"),
        ("bad_timestamp", "bad_timestamp"),
        ("fractional_timestamp", "bad_timestamp"),
        ("unicode_timestamp", "bad_timestamp"),
        ("stale_timestamp", "stale_timestamp"),
        ("future_timestamp", "stale_timestamp"),
        ("wrong_key", "bad_signature"),
        ("non_hex_signature", "bad_signature"),
        ("short_signature", "bad_signature"),
        ("long_signature", "bad_signature"),
        ("uppercase_signature", "bad_signature"),
        ("unicode_signature", "bad_signature"),
        ("latin1_signature", "bad_signature"),
    ],
)
def test_rejections_are_401_store_nothing_and_are_counted(
    case: str, reason: str, source: str, receiver: ReceiverServer, client: httpx.Client,
    shared_dir: DataDir,
) -> None:
    body = event_body()
    reply = client.post(receiver.endpoint(source), content=body, headers=_headers_for(case, body))
    assert reply.status_code == 401
    assert reply.json() == {"error": reason}
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == [] and inbox.dead_letters == []
    assert inbox.health.counters == {"received": 1, f"rejected:{reason}": 1}
    assert inbox.health.last_rejection == reason and inbox.health.consecutive_rejections == 1


def test_a_replay_with_an_old_timestamp_is_refused(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    body = event_body()
    assert post(client, receiver, source, body).status_code == 200
    # An attacker replays the captured request 10 minutes later, headers and all.
    captured = signed_headers(body, timestamp=int(time.time()) - 600)
    reply = client.post(receiver.endpoint(source), content=body, headers=captured)
    assert reply.status_code == 401
    inbox = read_inbox(shared_dir, source)
    assert len(inbox.events) == 1
    assert inbox.health.counters["rejected:stale_timestamp"] == 1


def test_a_signature_over_other_bytes_is_refused(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    body = event_body()
    tampered = body.replace(b'"sent"', b'"opened"')
    reply = client.post(receiver.endpoint(source), content=tampered, headers=signed_headers(body))
    assert reply.status_code == 401 and read_inbox(shared_dir, source).events == []


def test_a_key_for_another_source_is_refused(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_store: StateStore
) -> None:
    other = fresh_name()
    add_source(shared_store, name=other, signing_key="the-other-sources-key")
    body = event_body()
    assert post(client, receiver, source, body, key="the-other-sources-key").status_code == 401
    assert post(client, receiver, other, body, key="the-other-sources-key").status_code == 200


def test_rotation_accepts_current_and_previous_keys_at_once_and_no_third(
    keyed: StateStore, start_receiver: Start, client: httpx.Client, data_dir: DataDir
) -> None:
    # A cache TTL far longer than the test: new keys are seen because a failed verification
    # re-reads the store at once, not because the cache expired.
    receiver = start_receiver(ReceiverSettings(key_cache_seconds=3600))
    assert post(client, receiver, SOURCE, event_body()).status_code == 200
    set_keys(keyed, "the-new-key", previous=KEY)
    assert post(client, receiver, SOURCE, event_body(), key="the-new-key").status_code == 200
    assert post(client, receiver, SOURCE, event_body(), key=KEY).status_code == 200
    assert post(client, receiver, SOURCE, event_body(), key="a-third-key").status_code == 401
    inbox = read_inbox(data_dir)
    assert len(inbox.events) == 3
    assert inbox.health.counters["rejected:bad_signature"] == 1


def test_a_retired_key_is_refused_once_the_cache_expires(
    keyed: StateStore, start_receiver: Start, client: httpx.Client
) -> None:
    receiver = start_receiver(ReceiverSettings(key_cache_seconds=0.05))
    set_keys(keyed, "the-new-key", previous=KEY)
    assert post(client, receiver, SOURCE, event_body(), key=KEY).status_code == 200
    set_keys(keyed, "the-new-key")  # the previous key is dropped
    time.sleep(0.1)
    assert post(client, receiver, SOURCE, event_body(), key=KEY).status_code == 401
    assert post(client, receiver, SOURCE, event_body(), key="the-new-key").status_code == 200


def test_a_good_delivery_ends_a_rejection_streak(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    for _ in range(3):
        post(client, receiver, source, event_body(), key="wrong")
    assert read_inbox(shared_dir, source).health.consecutive_rejections == 3
    post(client, receiver, source, event_body())
    health = read_inbox(shared_dir, source).health
    assert health.consecutive_rejections == 0 and health.rejected == 3


# -- signed but unusable: dead letters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b'{"event_id": "x", "object_type": "email"', "not valid JSON"),
        (b'{"event_id": "\xff\xfe", "object_type": "email"}', "not valid JSON"),  # bad UTF-8
        (b'{"event_id": "\\ud800", "object_type": "email"}', "not valid JSON"),  # lone surrogate
        (b"[1, 2]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b'{"object_type": "email"}', "no string event_id"),
        (b'{"event_id": 17, "object_type": "email"}', "no string event_id"),
        (b'{"event_id": "", "object_type": "email"}', "no string event_id"),
        (b'{"event_id": "01E4C4CT6Y"}', "no string object_type"),
        (b'{"event_id": "01E4C4CT6Y", "object_type": null}', "no string object_type"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),  # deeper than the parser's recursion cap
    ],
    ids=lambda v: v[:40] if isinstance(v, bytes) else v,
)
def test_signed_but_unusable_bodies_are_dead_lettered_raw(
    body: bytes, reason: str, source: str, receiver: ReceiverServer, client: httpx.Client,
    shared_dir: DataDir,
) -> None:
    reply = post(client, receiver, source, body)
    assert reply.status_code == 200 and reply.json() == {"ok": True, "result": "dead_lettered"}
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == []
    assert [(d.body, d.reason) for d in inbox.dead_letters] == [(body, reason)]
    assert inbox.health.counters == {"received": 1, "dead_letters": 1}


def test_unsigned_unusable_bodies_are_not_dead_lettered(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    reply = client.post(receiver.endpoint(source), content=b"not json",
                        headers=signed_headers(b"other bytes"))
    assert reply.status_code == 401 and read_inbox(shared_dir, source).dead_letters == []


# -- size cap: 413 ------------------------------------------------------------------------------


@pytest.fixture
def small_receiver(keyed: StateStore, start_receiver: Start) -> ReceiverServer:
    return start_receiver(ReceiverSettings(max_body_bytes=1024))


def test_the_size_cap(small_receiver: ReceiverServer, client: httpx.Client,
                      data_dir: DataDir) -> None:
    at_cap = event_body(padding="")
    at_cap = event_body(padding="x" * (1024 - len(at_cap)))
    assert len(at_cap) == 1024
    assert post(client, small_receiver, SOURCE, at_cap).status_code == 200

    over = event_body(padding="x" * 2000)  # Content-Length says it: refused before reading
    assert post(client, small_receiver, SOURCE, over).status_code == 413
    inbox = read_inbox(data_dir)
    assert len(inbox.events) == 1 and inbox.dead_letters == []
    assert inbox.health.counters["rejected:body_too_large"] == 1
    # The same connection still works: the rest of the refused body was read and discarded.
    assert post(client, small_receiver, SOURCE, event_body()).status_code == 200


def test_a_chunked_oversized_body_without_content_length_is_413(
    small_receiver: ReceiverServer, client: httpx.Client, data_dir: DataDir
) -> None:
    body = event_body(padding="x" * 100_000)

    def chunks() -> Iterator[bytes]:  # an iterator: httpx sends Transfer-Encoding: chunked
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    reply = client.post(small_receiver.endpoint(), content=chunks(), headers=signed_headers(body))
    assert reply.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 413
    inbox = read_inbox(data_dir)
    assert inbox.events == [] and inbox.health.counters["rejected:body_too_large"] == 1


def test_a_small_chunked_body_is_taken(
    source: str, receiver: ReceiverServer, client: httpx.Client, shared_dir: DataDir
) -> None:
    body = event_body()
    reply = client.post(receiver.endpoint(source), content=iter([body[:10], body[10:]]),
                        headers=signed_headers(body))
    assert reply.status_code == 200 and read_inbox(shared_dir, source).events[0].body == body


def test_the_default_cap_is_one_mebibyte(
    source: str, receiver: ReceiverServer, client: httpx.Client
) -> None:
    assert post(client, receiver, source, b"x" * (1024 * 1024 + 1)).status_code == 413


# -- malformed HTTP: 4xx, never 500, nothing stored ----------------------------------------------


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b"\xd9\xa1", b"9" * 5000])
def test_a_non_integer_content_length_is_4xx(
    length: bytes, source: str, receiver: ReceiverServer, shared_dir: DataDir,
    client: httpx.Client,
) -> None:
    reply = raw_request(
        receiver,
        f"POST /webhooks/customerio/{source} HTTP/1.1\r\nHost: x\r\n".encode()
        + b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n{}",
    )
    assert 400 <= status_of(reply) < 500, reply[:200]
    assert read_inbox(shared_dir, source).events == []
    assert post(client, receiver, source, event_body()).status_code == 200  # still serving


def test_a_truncated_body_stores_nothing_and_the_receiver_carries_on(
    source: str, receiver: ReceiverServer, shared_dir: DataDir, client: httpx.Client
) -> None:
    body = event_body()
    headers = signed_headers(body)
    reply = raw_request(receiver, request_head(source, body, headers) + body[: len(body) // 2],
                        close_early=True)
    assert status_of(reply) in (0, 400)  # the client is gone; nothing is acked
    inbox = read_inbox(shared_dir, source)
    assert inbox.events == [] and inbox.dead_letters == []
    reply2 = client.post(receiver.endpoint(source), content=body, headers=headers)
    assert reply2.status_code == 200


@pytest.mark.parametrize(
    "extra",
    [
        b"X-CIO-Timestamp: \xff\xfe\xfd\r\nX-CIO-Signature: \x80\x81\r\n",
        b"X-CIO-Timestamp: 1\r\nX-CIO-Timestamp: 2\r\nX-CIO-Signature: " + b"a" * 64 + b"\r\n",
        b"X-CIO-Timestamp: " + b"9" * 6000 + b"\r\nX-CIO-Signature: " + b"a" * 64 + b"\r\n",
        b"X-CIO-Timestamp: 1700000000\r\nX-CIO-Signature: " + b"\xc3\xa9" * 32 + b"\r\n",
    ],
    ids=["latin1", "repeated", "huge_timestamp", "utf8_signature"],
)
def test_garbage_headers_are_401(
    extra: bytes, source: str, receiver: ReceiverServer, shared_dir: DataDir
) -> None:
    body = b"{}"
    head = (
        f"POST /webhooks/customerio/{source} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    reply = raw_request(receiver, head + extra + b"\r\n" + body)
    assert status_of(reply) == 401, reply[:200]
    assert read_inbox(shared_dir, source).events == []


# -- durability failures: 503, so Customer.io retries --------------------------------------------


def test_an_inbox_that_cannot_commit_answers_503_and_stores_nothing(
    keyed: StateStore, start_receiver: Start, client: httpx.Client, data_dir: DataDir
) -> None:
    receiver = start_receiver(ReceiverSettings(inbox_busy_timeout_seconds=0.2))
    body = event_body()
    blocker = sqlite3.connect(data_dir.inbox, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        reply = post(client, receiver, SOURCE, body)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert reply.status_code == 503 and reply.headers["retry-after"]
    assert read_inbox(data_dir).events == []
    # Customer.io's retry succeeds once the lock is gone.
    assert post(client, receiver, SOURCE, body).status_code == 200
    assert len(read_inbox(data_dir).events) == 1


# -- secrets and bodies stay out of the logs -----------------------------------------------------


def test_logs_never_hold_keys_bodies_or_signatures(
    shared_store: StateStore, source: str, receiver: ReceiverServer, client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nokey = fresh_name()
    add_source(shared_store, name=nokey)
    body = event_body("01SECRETBODYMARKER")
    good = signed_headers(body)
    with caplog.at_level(logging.DEBUG):
        client.post(receiver.endpoint(nokey), content=body, headers=good)
        post(client, receiver, source, body, key="wrong-key-text")
        client.post(receiver.endpoint(source), content=body, headers=good)
    text = caplog.text
    assert "no signing key" in text and "bad_signature" in text  # the warnings are there ...
    wrong_signature = cio_signature("wrong-key-text", good["X-CIO-Timestamp"], body)
    for secret in (KEY, "wrong-key-text", "01SECRETBODYMARKER", good["X-CIO-Signature"],
                   wrong_signature, "test@example.com"):
        assert secret not in text  # ... without what they must not show


def test_keys_that_cannot_be_decrypted_answer_503_not_404(
    shared_dir: DataDir, receiver: ReceiverServer, client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A source written with another secret key (say, $CIO_WAREHOUSE_SECRET_KEY set for the CLI
    # but not for the receiver): a 404 would make Customer.io wait an hour, a 503 retries sooner.
    # The store itself refuses a second key now, so the foreign token is planted directly.
    name = fresh_name()
    add_source(StateStore(shared_dir), name=name, signing_key=KEY)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"a signing key")
    with sqlite3.connect(shared_dir.state_db) as db:
        db.execute("UPDATE sources SET signing_key = ? WHERE name = ?", (foreign, name))
    with caplog.at_level(logging.WARNING):
        reply = post(client, receiver, name, event_body())
    assert reply.status_code == 503
    assert "cannot be decrypted" in caplog.text
    assert read_inbox(shared_dir, name).events == []
