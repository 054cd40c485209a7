"""group_commit.py: one commit per group, every waiter resolved, errors to all, drain on close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
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
    with GroupCommitter(path, max_batch=7, max_wait_seconds=0.05) as committer:
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
    with GroupCommitter(path, busy_timeout_seconds=0.1, max_wait_seconds=0.02) as committer:
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
    committer = GroupCommitter(path, max_batch=5, max_wait_seconds=0.01).start()

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
