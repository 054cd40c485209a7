"""The scheduler against the sandbox over real HTTP, with a fake clock: due tables run once per
interval, the state store carries the schedule across restarts, and nothing runs twice."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import duckdb
import pytest

from cio_warehouse.frequencies import set_table_frequency
from cio_warehouse.sandbox import FailAlways, Latency, SandboxServer, Workspace
from cio_warehouse.service.jobs import SyncJob, SyncJobs
from cio_warehouse.service.scheduler import Scheduler
from cio_warehouse.state import StateError, StateStore
from tests.helpers import add_source, wait_until

pytestmark = pytest.mark.timeout(60)

FIVE_MINUTES = 300


class FakeClock:
    """Unix seconds that move only when told: runs are stamped with time.time(), so it starts
    there and tests set it relative to a recorded run's start."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jobs(store: StateStore) -> Iterator[SyncJobs]:
    jobs = SyncJobs(store)
    yield jobs
    jobs.shutdown()


MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
def make_scheduler(store: StateStore, jobs: SyncJobs, clock: FakeClock) -> Iterator[MakeScheduler]:
    made: list[Scheduler] = []

    def make(**kwargs: object) -> Scheduler:
        kwargs = {"store": store, "jobs": jobs, "clock": clock, **kwargs}
        scheduler = Scheduler(**kwargs)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.stop()


def _link(
    store: StateStore, sandbox: SandboxServer, api_key: str, tables: tuple[str, ...],
    frequency: int = FIVE_MINUTES,
) -> None:
    # Unpaced (max_rps=0) and one attempt per request: the tests wait for syncs, not for backoff.
    source = add_source(store, sandbox, api_key, max_rps=0, max_attempts=1)
    store.update_source(replace(source, tables=tables, frequency_seconds=frequency))


def _finish(job: SyncJob, timeout: float = 30) -> SyncJob:
    wait_until(lambda: job.done, f"job {job.id} to finish", timeout, interval=0.01)
    return job


def _statuses(store: StateStore, table: str) -> list[str]:
    return [run.status for run in reversed(store.runs("acme", table))]


def _rows(store: StateStore, table: str) -> int:
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    try:
        row = con.execute(f"select count(*) from acme.{table}").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def _requests(sandbox: SandboxServer, path: str) -> int:
    return sum(r.path == path for r in sandbox.requests())


def test_a_five_minute_table_runs_again_after_its_interval_and_not_before(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler, workspace: Workspace,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    scheduler = make_scheduler()
    first = scheduler.tick()  # never synced: due at once
    assert [job.tables for job in first] == [["segments"]]
    assert _finish(first[0]).error is None
    last = store.last_runs("acme")["segments"]
    assert last.status == "succeeded"
    assert _rows(store, "segments") == workspace.expected_rows("segments")

    clock.now = last.started_at + FIVE_MINUTES - 1
    assert scheduler.tick() == []
    assert scheduler.next_runs("acme") == {"segments": last.started_at + FIVE_MINUTES}

    clock.now = last.started_at + FIVE_MINUTES
    again = scheduler.tick()
    assert [job.tables for job in again] == [["segments"]]
    _finish(again[0])
    assert _statuses(store, "segments") == ["succeeded", "succeeded"]
    assert _requests(sandbox, "/v1/segments") == 2


def test_the_running_loop_fires_on_its_own_and_a_stopped_one_starts_nothing(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    jobs: SyncJobs, make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    scheduler = make_scheduler(tick_seconds=0.02)
    scheduler.start()
    assert scheduler.running
    wait_until(lambda: _statuses(store, "segments") == ["succeeded"], "the first run")
    clock.now = store.last_runs("acme")["segments"].started_at + FIVE_MINUTES
    wait_until(
        lambda: _statuses(store, "segments") == ["succeeded", "succeeded"], "the second run"
    )

    scheduler.stop()
    assert not scheduler.running
    clock.now += 10 * FIVE_MINUTES
    time.sleep(0.2)  # ten ticks' worth, had it still been ticking
    assert scheduler.tick() == []
    with pytest.raises(StateError, match="stopping"):
        scheduler.trigger("acme", ["segments"])
    assert not jobs.busy()
    assert _statuses(store, "segments") == ["succeeded", "succeeded"]
    with pytest.raises(StateError, match="stopped"):
        scheduler.start()


def test_after_a_restart_the_next_run_follows_from_the_last_one(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    before = make_scheduler()
    _finish(before.tick()[0])
    before.stop()
    last = store.last_runs("acme")["segments"]

    # A new process: its own state store object, job pool and scheduler over the same data dir.
    reopened = StateStore(store.data_dir)
    restarted_jobs = SyncJobs(reopened)
    try:
        after = make_scheduler(store=reopened, jobs=restarted_jobs)
        assert after.next_runs("acme") == {"segments": last.started_at + FIVE_MINUTES}
        clock.now = last.started_at + FIVE_MINUTES - 1
        assert after.tick() == []
        clock.now = last.started_at + FIVE_MINUTES
        _finish(after.tick()[0])
    finally:
        restarted_jobs.shutdown()
    assert _statuses(store, "segments") == ["succeeded", "succeeded"]


def test_a_run_killed_with_its_process_waits_for_the_next_slot(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    run_id = store.start_run("acme", "segments")
    # As if the process that ran it died (kill -9): the store marks such runs interrupted.
    db = sqlite3.connect(store.data_dir.state_db)
    with db:
        db.execute("UPDATE runs SET pid = ? WHERE id = ?", (2**22 + 12345, run_id))
    db.close()
    scheduler = make_scheduler()
    killed = store.last_runs("acme")["segments"]
    assert killed.status == "interrupted"
    clock.now = killed.started_at + FIVE_MINUTES - 1
    assert scheduler.tick() == []
    clock.now = killed.started_at + FIVE_MINUTES
    _finish(scheduler.tick()[0])
    assert _statuses(store, "segments") == ["interrupted", "succeeded"]


def test_a_failed_run_is_recorded_and_retried_at_the_next_slot_not_at_once(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler, workspace: Workspace,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    scheduler = make_scheduler()
    _finish(scheduler.tick()[0])
    clock.now = store.last_runs("acme")["segments"].started_at + FIVE_MINUTES

    sandbox.set_faults([FailAlways(path="/v1/segments")])
    _finish(scheduler.tick()[0])
    failed = store.last_runs("acme")["segments"]
    assert failed.status == "failed"
    assert failed.error is not None and "previous rows were kept" in failed.error
    assert _rows(store, "segments") == workspace.expected_rows("segments")  # old rows intact

    for _ in range(5):  # no tight retry loop, however often it ticks
        assert scheduler.tick() == []
    clock.now = failed.started_at + FIVE_MINUTES - 1
    assert scheduler.tick() == []
    assert _requests(sandbox, "/v1/segments") == 2  # the first sync and one failed attempt

    sandbox.clear_faults()
    clock.now = failed.started_at + FIVE_MINUTES
    _finish(scheduler.tick()[0])
    assert _statuses(store, "segments") == ["succeeded", "failed", "succeeded"]


def test_a_job_that_fails_before_its_runs_begin_is_recorded_once(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments", "campaigns"))
    # An unusable API base URL fails the job before any table's run is recorded.
    store.update_source(replace(store.get_source("acme"), api_base_url="ftp://nowhere"))
    scheduler = make_scheduler()
    job = _finish(scheduler.tick()[0])
    assert job.error is not None and job.outcomes is None
    assert scheduler.tick() == []  # the failure is recorded now, not retried
    runs = store.last_runs("acme")
    assert {t: r.status for t, r in runs.items()} == {"segments": "failed", "campaigns": "failed"}
    assert runs["segments"].error == job.error
    for _ in range(3):
        assert scheduler.tick() == []
    assert len(store.runs("acme")) == 2


def test_tables_due_together_share_one_job_and_a_table_override_wins(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("campaigns", "segments"), frequency=6 * 3600)
    set_table_frequency(store, "acme", "segments", "5 minutes")
    scheduler = make_scheduler()
    jobs = scheduler.tick()
    assert [sorted(job.tables) for job in jobs] == [["campaigns", "segments"]]
    _finish(jobs[0])
    last = store.last_runs("acme")
    assert scheduler.next_runs("acme") == {
        "campaigns": last["campaigns"].started_at + 6 * 3600,
        "segments": last["segments"].started_at + FIVE_MINUTES,
    }
    clock.now = max(r.started_at for r in last.values()) + FIVE_MINUTES
    jobs = scheduler.tick()
    assert [job.tables for job in jobs] == [["segments"]]
    _finish(jobs[0])
    assert _statuses(store, "campaigns") == ["succeeded"]


def test_a_webhook_only_table_is_never_scheduled(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("email_events", "customer_events"))
    scheduler = make_scheduler()
    assert scheduler.tick() == []
    clock.now += 365 * 86400
    assert scheduler.tick() == []
    assert scheduler.next_runs("acme") == {}
    with pytest.raises(StateError, match="fill from the reporting webhook"):
        scheduler.trigger("acme", ["email_events"])
    assert store.runs("acme") == [] and sandbox.requests() == []


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at the same moment in threads; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except StateError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _started(results: list[object]) -> list[SyncJob]:
    jobs: list[SyncJob] = []
    for result in results:
        if isinstance(result, SyncJob):
            jobs.append(result)
        elif isinstance(result, list):  # a tick's jobs
            jobs.extend(result)
    return jobs


def test_two_triggers_at_once_start_one_run(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    sandbox.set_faults([Latency(path="/v1/segments", ms=300)])  # still running when they meet
    scheduler = make_scheduler()
    rounds = [
        lambda: scheduler.trigger("acme", ["segments"]),  # "Sync now" twice
        lambda: scheduler.trigger("acme", ["segments"]),
    ], [
        lambda: scheduler.trigger("acme"),  # "Sync now" while the scheduler fires
        scheduler.tick,
    ], [
        scheduler.tick,  # two ticks racing
        scheduler.tick,
    ]
    for n, calls in enumerate(rounds, start=1):
        clock.now += FIVE_MINUTES  # every round starts with the table due
        results = _race(*calls)
        started = _started(results)
        assert len(started) == 1, results
        refused = [r for r in results if isinstance(r, StateError)]
        assert all("Already syncing segments" in str(r) for r in refused)
        _finish(started[0])
        assert _statuses(store, "segments") == ["succeeded"] * n
    assert _requests(sandbox, "/v1/segments") == len(rounds)


def test_a_busy_source_waits_for_its_job_before_the_next_one(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    """One job per source at a time keeps it within its 10 requests/second."""
    _link(store, sandbox, api_key, ("campaigns", "segments"))
    sandbox.set_faults([Latency(path="/v1/campaigns", ms=500)])
    scheduler = make_scheduler()
    now = scheduler.trigger("acme", ["campaigns"])
    assert scheduler.tick() == []  # segments is due, but the source's job still runs
    _finish(now)
    later = scheduler.tick()
    assert [job.tables for job in later] == [["segments"]]
    _finish(later[0])


def test_a_run_still_running_outside_the_scheduler_is_never_doubled(
    store: StateStore, sandbox: SandboxServer, api_key: str, clock: FakeClock,
    make_scheduler: MakeScheduler,
) -> None:
    """E.g. a sync this process runs directly, or one hung past its interval."""
    _link(store, sandbox, api_key, ("segments",))
    run_id = store.start_run("acme", "segments")
    scheduler = make_scheduler()
    clock.now += 10 * FIVE_MINUTES
    assert scheduler.tick() == []
    store.finish_run(run_id, status="succeeded", rows=0, pages=0, retries=0)
    _finish(scheduler.tick()[0])
    assert _statuses(store, "segments") == ["succeeded", "succeeded"]


def test_a_paused_source_is_not_scheduled_until_resumed(
    store: StateStore, sandbox: SandboxServer, api_key: str, make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    source = store.get_source("acme")
    store.update_source(replace(source, settings=replace(source.settings, paused_at=time.time())))
    scheduler = make_scheduler()
    assert scheduler.tick() == []  # never synced, so due: but paused
    assert scheduler.next_runs("acme") == {}
    assert _requests(sandbox, "/v1/segments") == 0

    store.update_source(source)  # resumed
    resumed = scheduler.tick()
    assert [job.tables for job in resumed] == [["segments"]]
    assert _finish(resumed[0]).error is None


def test_a_draft_is_not_scheduled_until_imported(
    store: StateStore, sandbox: SandboxServer, api_key: str, make_scheduler: MakeScheduler,
) -> None:
    _link(store, sandbox, api_key, ("segments",))
    source = store.get_source("acme")
    store.update_source(replace(source, settings=replace(source.settings, draft=True)))
    scheduler = make_scheduler()
    assert scheduler.tick() == []
    assert _requests(sandbox, "/v1/segments") == 0

    store.update_source(source)  # imported
    imported = scheduler.tick()
    assert [job.tables for job in imported] == [["segments"]]
    assert _finish(imported[0]).error is None
