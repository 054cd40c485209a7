"""group_commit.py: one commit per group, every waiter resolved, errors to all, drain on close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cio_warehouse.webhooks.group_commit import CommitError, GroupCommitter
from cio_warehouse.webhooks.inbox import Inbox, Kind, Result, Submission

pytestmark = pytest.mark.timeout(30)


def event(event_id: str, source: str = "acme") -> Submission:
    return Submission(source, Kind.EVENT, time.time(), body=b"{}", event_id=event_id)


def stored_ids(path: Path) -> list[str]:
    inbox = Inbox(path)
    try:
        return [e.event_id for e in inbox.pending_events(1_000_000)]
    finally:
        inbox.close()


async def submit_all(committer: GroupCommitter, subs: list[Submission]) -> list[object]:
    return list(
        await asyncio.gather(*(committer.submit(s) for s in subs), return_exceptions=True)
    )


def test_concurrent_submissions_share_commits_and_each_gets_its_result(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    subs = [event(f"e{i}") for i in range(300)] + [event("e0"), event("e1")]
    with GroupCommitter(path) as committer:
        results = asyncio.run(submit_all(committer, subs))
        assert results == [Result.STORED] * 300 + [Result.DUPLICATE] * 2
        assert committer.submitted == 302
        assert committer.groups < 302  # deliveries queued together were committed together
    assert sorted(stored_ids(path)) == sorted(f"e{i}" for i in range(300))


def test_a_group_never_exceeds_max_batch(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    with GroupCommitter(path, max_batch=7) as committer:
        results = asyncio.run(submit_all(committer, [event(f"e{i}") for i in range(50)]))
        assert results == [Result.STORED] * 50
        assert committer.largest_group <= 7 and committer.groups >= 8


def test_every_kind_goes_through_and_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    now = time.time()
    subs = [
        event("a"),
        Submission("acme", Kind.DEAD_LETTER, now, body=b"[]", reason="not a JSON object"),
        Submission("acme", Kind.REJECTED, now, reason="bad_signature"),
        Submission("acme", Kind.DROPPED, now),
    ]
    with GroupCommitter(path) as committer:
        results = asyncio.run(submit_all(committer, subs))
    assert results == [Result.STORED, Result.DEAD_LETTERED, Result.REJECTED, Result.DROPPED]
    inbox = Inbox(path)
    counters = inbox.health("acme").counters
    inbox.close()
    assert counters == {"received": 4, "stored": 1, "dead_letters": 1,
                        "rejected:bad_signature": 1, "dropped": 1}


def test_a_failed_commit_fails_every_waiter_of_the_group_and_the_next_group_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.db"
    with GroupCommitter(path, busy_timeout_seconds=0.1) as committer:
        # Another process holds the write lock (say, a loader stuck in a long transaction).
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        results = asyncio.run(submit_all(committer, [event(f"e{i}") for i in range(20)]))
        assert results and all(isinstance(r, CommitError) for r in results)
        blocker.execute("ROLLBACK")
        blocker.close()
        assert stored_ids(path) == []
        again = asyncio.run(submit_all(committer, [event(f"e{i}") for i in range(20)]))
        assert again == [Result.STORED] * 20
    assert len(stored_ids(path)) == 20


def test_close_drains_everything_already_queued(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    committer = GroupCommitter(path, max_batch=5).start()

    async def submit_then_close() -> list[object]:
        tasks = [asyncio.ensure_future(committer.submit(event(f"e{i}"))) for i in range(100)]
        await asyncio.sleep(0)  # every task has queued its submission
        closer = asyncio.get_running_loop().run_in_executor(None, committer.close)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await closer
        return results

    results = asyncio.run(submit_then_close())
    assert results == [Result.STORED] * 100
    assert len(stored_ids(path)) == 100
    with pytest.raises(CommitError):
        asyncio.run(committer.submit(event("late")))


def test_waiters_on_several_event_loops_are_all_resolved(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    outcomes: dict[int, list[object]] = {}
    with GroupCommitter(path) as committer:
        def run(n: int) -> None:
            subs = [event(f"t{n}-{i}") for i in range(50)]
            outcomes[n] = asyncio.run(submit_all(committer, subs))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(outcomes[n] == [Result.STORED] * 50 for n in range(4))
    assert len(stored_ids(path)) == 200


def test_start_fails_loudly_when_the_inbox_cannot_be_opened(tmp_path: Path) -> None:
    committer = GroupCommitter(tmp_path)  # a directory, not a database file
    with pytest.raises(sqlite3.Error):
        committer.start()
    with pytest.raises(CommitError):
        asyncio.run(committer.submit(event("x")))


# -- classic group commit: no timer; what queues during a commit is the next group ---------------


class GatedWrites:
    """Inbox.write, recorded and held at a gate until the test opens it; `fail` makes the write
    of the group holding that event_id raise, as a full disk would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()
        self.fail = fail
        real: Callable[[Inbox, list[Submission]], list[Result]] = Inbox.write

        def write(inbox: Inbox, subs: list[Submission]) -> list[Result]:
            self.groups.append([s.event_id or "" for s in subs])
            self.entered.release()
            assert self.gate.wait(10), "the test never opened the gate"
            if self.fail is not None and any(s.event_id == self.fail for s in subs):
                raise sqlite3.OperationalError("disk I/O error")
            return real(inbox, subs)

        monkeypatch.setattr(Inbox, "write", write)

    def wait_entered(self) -> None:
        assert self.entered.acquire(timeout=10), "the writer never started a commit"


def test_a_lone_delivery_is_committed_at_once_without_waiting_for_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = GatedWrites(monkeypatch)
    writes.gate.set()
    with GroupCommitter(tmp_path / "inbox.db") as committer:
        async def one_by_one() -> list[float]:
            seconds = []
            for i in range(20):
                started = time.monotonic()
                assert await committer.submit(event(f"e{i}")) is Result.STORED
                seconds.append(time.monotonic() - started)
            return seconds

        seconds = asyncio.run(one_by_one())
        assert committer.groups == 20 and committer.largest_group == 1
    assert writes.groups == [[f"e{i}"] for i in range(20)]
    # No timer to wait for: a lone delivery costs one commit (generous bound: a busy CI box).
    assert sorted(seconds)[10] < 1.0


def test_deliveries_queued_during_a_commit_form_the_next_group_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = GatedWrites(monkeypatch)
    with GroupCommitter(tmp_path / "inbox.db", max_batch=8) as committer:
        async def scenario() -> list[object]:
            first = asyncio.ensure_future(committer.submit(event("first")))
            await asyncio.get_running_loop().run_in_executor(None, writes.wait_entered)
            # "first" is being committed alone; these queue behind its commit.
            rest = [asyncio.ensure_future(committer.submit(event(f"r{i}"))) for i in range(20)]
            await asyncio.sleep(0)
            writes.gate.set()
            return list(await asyncio.gather(first, *rest, return_exceptions=True))

        results = asyncio.run(scenario())
    assert results == [Result.STORED] * 21
    assert writes.groups == [
        ["first"],
        [f"r{i}" for i in range(8)],  # max_batch still caps a group
        [f"r{i}" for i in range(8, 16)],
        [f"r{i}" for i in range(16, 20)],
    ]
    assert sorted(stored_ids(tmp_path / "inbox.db")) == sorted(["first"] + [f"r{i}" for i in
                                                                           range(20)])


def test_a_failing_commit_fails_exactly_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inbox.db"
    writes = GatedWrites(monkeypatch, fail="bad")
    with GroupCommitter(path) as committer:
        async def scenario() -> tuple[list[object], list[object], object]:
            first = asyncio.ensure_future(committer.submit(event("before")))
            await asyncio.get_running_loop().run_in_executor(None, writes.wait_entered)
            doomed = [asyncio.ensure_future(committer.submit(event(e)))
                      for e in ("x1", "bad", "x2")]
            await asyncio.sleep(0)
            writes.gate.set()
            done = await asyncio.gather(first, *doomed, return_exceptions=True)
            after = await committer.submit(event("after"))
            return done[:1], done[1:], after

        before, doomed, after = asyncio.run(scenario())
    assert writes.groups == [["before"], ["x1", "bad", "x2"], ["after"]]
    assert before == [Result.STORED] and after is Result.STORED
    assert len(doomed) == 3 and all(isinstance(r, CommitError) for r in doomed)
    assert sorted(stored_ids(path)) == ["after", "before"]


def test_a_waiter_that_went_away_does_not_disturb_its_group(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    with GroupCommitter(path) as committer:
        async def scenario() -> list[object]:
            tasks = [asyncio.ensure_future(committer.submit(event(f"e{i}"))) for i in range(10)]
            await asyncio.sleep(0)
            tasks[3].cancel()  # the client disconnected; its delivery is stored all the same
            return list(await asyncio.gather(*tasks, return_exceptions=True))

        results = asyncio.run(scenario())
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 3] == [Result.STORED] * 9
    assert len(stored_ids(path)) == 10


def test_after_a_big_group_the_writer_lingers_for_the_rest_of_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = GatedWrites(monkeypatch)
    # A linger far longer than the pause between "x" and "y" below, even on a busy box.
    with GroupCommitter(tmp_path / "inbox.db", linger_seconds=2.0) as committer:
        async def scenario() -> list[object]:
            first = asyncio.ensure_future(committer.submit(event("first")))
            await asyncio.get_running_loop().run_in_executor(None, writes.wait_entered)
            big = [asyncio.ensure_future(committer.submit(event(f"r{i}"))) for i in range(10)]
            await asyncio.sleep(0)
            writes.gate.set()
            done = await asyncio.gather(first, *big)
            # The group before was big (10): the writer waits for more before committing "x".
            x = asyncio.ensure_future(committer.submit(event("x")))
            await asyncio.sleep(0.05)
            y = asyncio.ensure_future(committer.submit(event("y")))
            done += await asyncio.gather(x, y)
            # After a small group (2) a lone delivery is committed at once, alone.
            done.append(await committer.submit(event("z")))
            return done

        results = asyncio.run(scenario())
        assert committer.lingered == 1
    assert results == [Result.STORED] * 14
    assert writes.groups == [["first"], [f"r{i}" for i in range(10)], ["x", "y"], ["z"]]
