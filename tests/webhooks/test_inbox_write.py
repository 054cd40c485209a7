"""Inbox.write: a group in a few statements gives the same rows, results and health as the same
deliveries written one at a time; the loader's writes leave the write lock to the receiver.

The behaviour tests run on both backends: the data dir's SQLite inbox and the shared PostgreSQL
one (a fresh database each); the lock tests are SQLite's own."""

from __future__ import annotations

import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.webhooks.inbox import (
    RETENTION_SECONDS,
    Health,
    Inbox,
    InboxBackend,
    Kind,
    Result,
    Submission,
)

MakeInbox = Callable[[], InboxBackend]


@pytest.fixture(params=["sqlite", "postgres"])
def make_inbox(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[MakeInbox]:
    """New, empty inboxes of the backend: a file each, or a PostgreSQL database each."""
    opened: list[InboxBackend] = []

    def make() -> InboxBackend:
        box: InboxBackend
        if request.param == "sqlite":
            box = Inbox(tmp_path / f"inbox{len(opened)}.db")
        else:
            from cio_warehouse.webhooks.inbox.postgres import PostgresInbox

            server = request.getfixturevalue("postgres_server")
            box = PostgresInbox(Secret(server.create_database("t_" + secrets.token_hex(6))))
        opened.append(box)
        return box

    yield make
    for box in opened:
        box.close()


@pytest.fixture
def inbox(make_inbox: MakeInbox) -> InboxBackend:
    return make_inbox()


def ev(event_id: str, at: float, source: str = "acme") -> Submission:
    return Submission(source, Kind.EVENT, at, body=f'{{"id":"{event_id}"}}'.encode(),
                      event_id=event_id)


def rejected(at: float, reason: str = "bad_signature", source: str = "acme") -> Submission:
    return Submission(source, Kind.REJECTED, at, reason=reason)


def dead(at: float, source: str = "acme") -> Submission:
    return Submission(source, Kind.DEAD_LETTER, at, body=b"[]", reason="not a JSON object")


def dropped(at: float, source: str = "acme") -> Submission:
    return Submission(source, Kind.DROPPED, at)


def marks(health: Health) -> tuple[object, ...]:
    return (health.last_delivery_at, health.last_rejected_at, health.last_rejection,
            health.consecutive_rejections)


def test_duplicates_within_a_group_and_across_chunks_and_groups(inbox: InboxBackend) -> None:
    # 70 events: past one multi-row statement (32), ids repeated inside and across chunks.
    subs = [ev(f"e{i}", i) for i in range(70)] + [ev("e3", 70), ev("e69", 71), ev("e40", 72)]
    random.Random(7).shuffle(subs)
    first_seen: set[str] = set()
    expected = []
    for sub in subs:
        expected.append(Result.DUPLICATE if sub.event_id in first_seen else Result.STORED)
        first_seen.add(sub.event_id or "")
    assert inbox.write(subs) == expected
    assert inbox.write([ev("e5", 80), ev("new", 81)]) == [Result.DUPLICATE, Result.STORED]
    stored = inbox.pending_events(1000)
    assert sorted(e.event_id for e in stored) == sorted([f"e{i}" for i in range(70)] + ["new"])
    # Each with its own bytes and time; in the order of arrival in SQLite (PostgreSQL stores a
    # group in event_id order, so that receivers lock the unique index in one order).
    firsts = [s for s, r in zip(subs, expected, strict=True) if r is Result.STORED]
    got = [(e.event_id, e.received_at, e.body) for e in stored[:70]]
    want = [(s.event_id, s.received_at, s.body) for s in firsts]
    if isinstance(inbox, Inbox):
        assert got == want
    else:
        assert sorted(got, key=str) == sorted(want, key=str)
    assert inbox.health("acme").counters == {"received": 75, "stored": 71, "duplicates": 4}


def test_sources_are_kept_apart(inbox: InboxBackend) -> None:
    subs = [ev("same", 1, "a"), ev("same", 2, "b"), rejected(3, source="b"), ev("same", 4, "a")]
    assert inbox.write(subs) == [Result.STORED, Result.STORED, Result.REJECTED, Result.DUPLICATE]
    assert inbox.health("a").counters == {"received": 2, "stored": 1, "duplicates": 1}
    assert inbox.health("b").counters == {"received": 2, "stored": 1, "rejected:bad_signature": 1}
    assert marks(inbox.health("a")) == (4, None, None, 0)
    assert marks(inbox.health("b")) == (2, 3, "bad_signature", 1)


def test_every_kind_in_one_group(inbox: InboxBackend) -> None:
    subs = [dead(1), ev("x", 2), dropped(3), rejected(4, "stale_timestamp"), dead(5)]
    assert inbox.write(subs) == [Result.DEAD_LETTERED, Result.STORED, Result.DROPPED,
                                 Result.REJECTED, Result.DEAD_LETTERED]
    assert [d.received_at for d in inbox.pending_dead_letters(10)] == [1, 5]
    assert inbox.health("acme").counters == {"received": 5, "dead_letters": 2, "stored": 1,
                                             "dropped": 1, "rejected:stale_timestamp": 1}


@pytest.mark.parametrize("seed", range(8))
def test_health_marks_of_a_group_equal_those_of_its_deliveries_one_by_one(
    make_inbox: MakeInbox, seed: int
) -> None:
    rng = random.Random(seed)
    makers = [lambda t: ev(f"id{t}", t), lambda t: rejected(t, rng.choice(["bad_signature",
              "stale_timestamp"])), lambda t: dropped(t), lambda t: dead(t)]
    deliveries = [rng.choice(makers)(float(t)) for t in range(60)]
    grouped, single = make_inbox(), make_inbox()
    at = 0
    while at < len(deliveries):
        size = rng.randint(1, 9)
        grouped.write(deliveries[at:at + size])
        for sub in deliveries[at:at + size]:
            single.write([sub])
        at += size
        assert marks(grouped.health("acme")) == marks(single.health("acme"))
    assert grouped.health("acme").counters == single.health("acme").counters


def test_a_rejection_streak_across_groups(inbox: InboxBackend) -> None:
    inbox.write([ev("a", 1), rejected(2), rejected(3, "stale_timestamp")])
    assert marks(inbox.health("acme")) == (1, 3, "stale_timestamp", 2)
    inbox.write([rejected(4)])
    assert marks(inbox.health("acme")) == (1, 4, "bad_signature", 3)
    inbox.write([rejected(5), dropped(6)])  # a delivery with no key to verify ends it too
    assert marks(inbox.health("acme")) == (6, 5, "bad_signature", 0)


def test_an_empty_group_writes_nothing(inbox: InboxBackend) -> None:
    assert inbox.write([]) == []
    assert inbox.health("acme").counters == {}


# -- the loader's writes leave the write lock to the receiver --------------------------------


def test_marks_and_prunes_go_in_short_transactions_that_let_the_receiver_in(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.db"
    seed = Inbox(path)
    old = time.time() - RETENTION_SECONDS - 60
    for start in range(0, 20_000, 1000):
        seed.write([ev(f"e{i}", old) for i in range(start, start + 1000)])
    seed.write([ev("recent", time.time()), dead(old)])
    seqs = [e.seq for e in seed.pending_events(100_000)]
    dead_seqs = [d.seq for d in seed.pending_dead_letters(10)]
    seed.close()

    loader = Inbox(path)
    waits: list[tuple[float, float]] = []  # (when a receiver's write ended, how long it took)
    marking = threading.Event()
    done = threading.Event()

    def receive() -> None:
        receiver = Inbox(path, timeout=5.0)  # its own thread, as the receiver's writer
        marking.wait(5)
        n = 0
        while not done.is_set():
            n += 1
            started = time.monotonic()
            receiver.write([ev(f"live{n}", time.time())])
            waits.append((time.monotonic(), time.monotonic() - started))
        receiver.close()

    thread = threading.Thread(target=receive)
    thread.start()
    try:
        marking.set()
        time.sleep(0.05)
        began = time.monotonic()
        loader.mark_loaded(seqs[:-1], dead_seqs)  # all but "recent"
        ended = time.monotonic()
        time.sleep(0.05)
        done.set()
        thread.join(10)
        during = [took for at, took in waits if began < at < ended + 0.05]
        # Acks kept being committed while the 20,000 marks were written, each waiting for one
        # short transaction at most, never for all of them.
        assert len(during) >= 5, (len(during), ended - began)
        assert max(during) < (ended - began) / 3, (max(during), ended - began)
        assert loader.pending_events(100_000)[0].event_id == "recent"
        assert loader.prune() == 20_001  # every loaded row past the retention, dead letter too
        assert loader.pending_dead_letters(10) == []
        assert [e.event_id for e in loader.pending_events(10)][0] == "recent"
    finally:
        done.set()
        thread.join(10)
        loader.close()


def test_marks_and_prunes_of_scattered_rows_touch_those_rows_only(tmp_path: Path) -> None:
    # Runs of consecutive rows, one longer than a transaction's share, with gaps between:
    # each run is settled as a range, which must hold none of the rows left out.
    inbox = Inbox(tmp_path / "inbox.db")
    old = time.time() - RETENTION_SECONDS - 60
    try:
        inbox.write([ev(f"e{i}", old) for i in range(2000)])
        seqs = [e.seq for e in inbox.pending_events(5000)]
        chosen = set(random.Random(7).sample(seqs[:1000], 400)) | set(seqs[1000:1700])
        inbox.mark_loaded(sorted(chosen, reverse=True))
        left = {e.seq for e in inbox.pending_events(5000)}
        assert left == set(seqs) - chosen
        assert inbox.prune() == len(chosen)
        assert {e.seq for e in inbox.pending_events(5000)} == left
    finally:
        inbox.close()


def test_a_writer_waits_for_the_lock_up_to_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    inbox = Inbox(path, timeout=0.3)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.1, lambda: blocker.execute("ROLLBACK"))
    try:
        release.start()
        assert inbox.write([ev("a", 1)]) == [Result.STORED]  # got the lock once it was free
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            inbox.write([ev("b", 2)])
        assert 0.25 < time.monotonic() - started < 2
        assert inbox.health("acme").counters == {"received": 1, "stored": 1}  # reads still go
    finally:
        release.join()
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        inbox.close()
