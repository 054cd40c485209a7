"""The shared inbox's own guarantees: claims that never overlap and die with their session, the
loaders' lock, which inbox a URL picks, and no password in any message.

(The behaviour it shares with the SQLite inbox, duplicates, kinds, health, is tested on both in
tests/webhooks/test_inbox_write.py.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.webhooks.inbox import (
    ENV_INBOX,
    InboxLocation,
    InboxUnavailable,
    Kind,
    Submission,
    inbox_location,
)
from cio_warehouse.webhooks.inbox.postgres import PostgresInbox
from tests.scaleout.conftest import pg_inbox
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.timeout(60)


def events(ids: range, source: str = "acme") -> list[Submission]:
    return [Submission(source, Kind.EVENT, time.time(), b"{}", f"e{i}") for i in ids]


def test_two_claims_at_once_take_different_rows(shared_inbox: InboxLocation) -> None:
    writer, one, two = pg_inbox(shared_inbox), pg_inbox(shared_inbox), pg_inbox(shared_inbox)
    try:
        writer.write(events(range(10)))
        writer.write([Submission("acme", Kind.DEAD_LETTER, time.time(), b"[]", reason="x")])
        with one.claim(6) as first, two.claim(100) as second:
            a = {e.event_id for e in first.events}
            b = {e.event_id for e in second.events}
            assert len(a) == 6 and len(b) == 4 and not a & b
            assert len(first.dead_letters) + len(second.dead_letters) == 1
            first.mark_loaded([e.seq for e in first.events])
            # Not committed yet: a reader still sees every row pending.
            assert writer.health("acme").backlog == 10
        assert writer.health("acme").backlog == 4  # the second claim marked nothing
        with one.claim(100) as again:
            assert {e.event_id for e in again.events} == b
    finally:
        for box in (writer, one, two):
            box.close()


def test_a_claim_whose_session_dies_is_released_unmarked(
    shared_inbox: InboxLocation, postgres_server: PostgresServer
) -> None:
    writer, dying = pg_inbox(shared_inbox), pg_inbox(shared_inbox)
    try:
        writer.write(events(range(5)))
        claim_cm = dying.claim(100)
        claim = claim_cm.__enter__()
        claim.mark_loaded([e.seq for e in claim.events])
        with writer.claim(100) as other:
            assert other.events == []  # all held
        # The loader's process dies: its session ends on the server, the claim with it.
        database = shared_inbox.url.reveal().rsplit("/", 1)[1]  # type: ignore[union-attr]
        postgres_server.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
            f" 'cio-warehouse inbox' AND datname = '{database}' AND pid <> pg_backend_pid()"
            " AND state = 'idle in transaction'")
        with pytest.raises(InboxUnavailable):
            claim_cm.__exit__(None, None, None)
        with writer.claim(100) as other:
            assert len(other.events) == 5
    finally:
        writer.close()
        dying.close()


def test_loaders_take_turns_on_one_warehouse_not_on_two(shared_inbox: InboxLocation) -> None:
    one, two = pg_inbox(shared_inbox), pg_inbox(shared_inbox)
    order: list[str] = []
    try:
        with one.claim(1) as first, first.exclusive("warehouse-a"):
            def other() -> None:
                with two.claim(1) as second:
                    with second.exclusive("warehouse-b"):
                        order.append("b")
                    with second.exclusive("warehouse-a"):
                        order.append("a, after the first")

            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.5)
            assert order == ["b"]  # another warehouse: no wait; this one: waits
            order.append("first done")
        thread.join(10)
        assert order == ["b", "first done", "a, after the first"]
    finally:
        one.close()
        two.close()


def test_which_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = DataDir(tmp_path / "data")
    monkeypatch.delenv(ENV_INBOX, raising=False)
    assert inbox_location(data_dir) == InboxLocation(path=data_dir.inbox)
    url = "postgresql://cio:s3cret@db.example:5432/inbox"
    monkeypatch.setenv(ENV_INBOX, url)
    assert inbox_location(data_dir).url == Secret(url)
    other = "postgres://x:y@other/db"
    assert inbox_location(data_dir, other).url == Secret(other)  # --inbox beats the variable
    assert str(inbox_location(data_dir)) == "postgresql://cio:***@db.example:5432/inbox"
    assert "s3cret" not in repr(inbox_location(data_dir))
    for bad in ("mysql://a:b@h/db", "postgresql:///nohost", "postgresql://h:5432"):
        with pytest.raises(StateError, match="postgresql://USER:PASSWORD@HOST:5432/DATABASE"):
            inbox_location(data_dir, bad)
    assert mask_url("postgresql://u@h/db?sslmode=require&password=p") == (
        "postgresql://u@h/db?sslmode=require&password=***")


def test_no_password_in_any_error(postgres_server: PostgresServer) -> None:
    wrong = Secret(f"postgresql://cio:Wr0ngPassw0rd@127.0.0.1:{postgres_server.port}/cio")
    with pytest.raises(InboxUnavailable) as refused:
        PostgresInbox(wrong, timeout=5)
    assert "Wr0ngPassw0rd" not in str(refused.value)
    assert "password authentication failed" in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    malformed = Secret("postgresql://cio:Wr0ngPassw0rd@127.0.0.1:notaport/cio")
    with pytest.raises(InboxUnavailable) as bad:
        PostgresInbox(malformed, timeout=5)
    assert "Wr0ngPassw0rd" not in str(bad.value)
    down = Secret("postgresql://cio:Wr0ngPassw0rd@127.0.0.1:1/cio")
    with pytest.raises(InboxUnavailable, match="cio:\\*\\*\\*@127.0.0.1:1/cio"):
        PostgresInbox(down, timeout=5)
