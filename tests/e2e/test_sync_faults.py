"""Each sandbox fault knob ends in success (transient faults) or in a clear failure with the
previous rows intact, checked by querying after the sync."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pytest

from cio_warehouse.sandbox import (
    Behaviour,
    FailAlways,
    Fault,
    Latency,
    RateLimited,
    RepeatCursor,
    SandboxServer,
    ServerError,
    Slow,
    TruncatedBody,
    Workspace,
)
from cio_warehouse.state import StateStore
from cio_warehouse.sync import TableOutcome
from cio_warehouse.sync.runner import run_sync
from tests.helpers import add_source

TABLES = ["newsletters", "segments"]


def _snapshot(store: StateStore, table: str) -> tuple[int, set[str]]:
    con = duckdb.connect(str(store.data_dir.warehouse), read_only=True)
    try:
        count = con.execute(f"select count(*) from acme.{table}").fetchone()
        loads = con.execute(f"select distinct _dlt_load_id from acme.{table}").fetchall()
    finally:
        con.close()
    assert count is not None
    return count[0], {row[0] for row in loads}


@pytest.fixture
def baseline(store: StateStore, sandbox: SandboxServer, api_key: str) -> StateStore:
    """A first, clean sync, so that each test can check what a faulty sync leaves behind."""
    # Short timeouts and backoff bounds keep the transient cases quick.
    add_source(store, sandbox, api_key, read_timeout=1.0, max_attempts=6, max_retry_seconds=60.0)
    assert all(o.status == "succeeded" for o in run_sync(store, "acme", TABLES))
    return store


def _sync_with(sandbox: SandboxServer, store: StateStore, *faults: Fault) -> list[TableOutcome]:
    sandbox.clear_requests()
    sandbox.set_faults(faults)
    return run_sync(store, "acme", TABLES)


TRANSIENT = {
    "429 with Retry-After seconds": RateLimited(count=2, retry_after=1),
    "429 with Retry-After HTTP date": RateLimited(
        count=1, retry_after=1, retry_after_format="http_date"
    ),
    "429 without Retry-After": RateLimited(count=2),
    "burst of 503s mid-paging": ServerError(path="/v1/newsletters", status=503, count=3, after=1),
    "burst of 500s": ServerError(status=500, count=2),
    "added latency": Latency(ms=150),
    "body cut by a dropped connection": TruncatedBody(path="/v1/newsletters", after=1),
    "body cut mid-JSON": TruncatedBody(path="/v1/segments", mode="json"),
    "response slower than the read timeout": Slow(path="/v1/newsletters", seconds=3, after=1),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_fault_ends_in_success(
    baseline: StateStore, sandbox: SandboxServer, workspace: Workspace, fault: Fault
) -> None:
    outcomes = _sync_with(sandbox, baseline, fault)
    assert [(o.table, o.status, o.error) for o in outcomes] == [
        (t, "succeeded", None) for t in TABLES
    ]
    if not isinstance(fault, Latency):
        assert sum(o.retries for o in outcomes) >= 1
    for table in TABLES:
        assert _snapshot(baseline, table)[0] == workspace.expected_rows(table)


def _assert_failed_and_intact(
    store: StateStore,
    outcomes: list[TableOutcome],
    table: str,
    before: tuple[int, set[str]],
    message: str,
) -> None:
    by_table = {o.table: o for o in outcomes}
    failed = by_table[table]
    assert failed.status == "failed"
    assert failed.error is not None and message in failed.error
    assert "previous rows were kept" in failed.error
    assert _snapshot(store, table) == before  # same rows, same load: untouched
    others = [o for o in outcomes if o.table != table]
    assert others and all(o.status == "succeeded" for o in others)  # one failure stops no other
    run = store.last_runs("acme")[table]
    assert run.status == "failed" and run.error == failed.error


def test_repeating_cursor_fails_the_table_and_keeps_its_rows(
    baseline: StateStore, sandbox: SandboxServer
) -> None:
    before = _snapshot(baseline, "newsletters")
    outcomes = _sync_with(sandbox, baseline, RepeatCursor(path="/v1/newsletters", after=1))
    _assert_failed_and_intact(baseline, outcomes, "newsletters", before, "a second time")


def test_persistent_outage_fails_clearly_after_bounded_retries(
    baseline: StateStore, sandbox: SandboxServer
) -> None:
    before = _snapshot(baseline, "segments")
    source = baseline.get_source("acme")
    baseline.update_source(replace(source, settings=replace(source.settings, max_attempts=3)))
    outcomes = _sync_with(sandbox, baseline, FailAlways(path="/v1/segments", status=503))
    _assert_failed_and_intact(baseline, outcomes, "segments", before, "after 3 attempts")
    attempts = [r for r in sandbox.requests() if r.path == "/v1/segments"]
    assert len(attempts) == 3


def test_outage_mid_paging_keeps_the_previous_rows(
    baseline: StateStore, sandbox: SandboxServer
) -> None:
    """Pages already fetched are never loaded on their own: no half table."""
    before = _snapshot(baseline, "newsletters")
    source = baseline.get_source("acme")
    baseline.update_source(replace(source, settings=replace(source.settings, max_attempts=2)))
    outcomes = _sync_with(
        sandbox, baseline, ServerError(path="/v1/newsletters", status=502, count=None, after=2)
    )
    _assert_failed_and_intact(baseline, outcomes, "newsletters", before, "HTTP 502")


@pytest.fixture
def live(api_key: str) -> Iterator[SandboxServer]:
    """The live reading of docs/customerio-behaviour.md: lists end with a cursor and one empty
    page, and the documented-unpaged lists page anyway."""
    workspace = Workspace.preset("small", seed=7, behaviour=Behaviour.live())
    with SandboxServer(workspace, api_key=api_key) as server:
        yield server


def test_live_paging_lands_every_row(store: StateStore, live: SandboxServer, api_key: str) -> None:
    add_source(store, live, api_key)
    outcomes = run_sync(store, "acme", TABLES)
    assert [o.error for o in outcomes if o.error] == []
    for table in TABLES:
        count, _ = _snapshot(store, table)
        assert count == live.workspace.expected_rows(table), table
    starts = [r for r in live.requests() if r.path == "/v1/segments" and "start=" in r.query]
    assert len(starts) == -(-live.workspace.expected_rows("segments") // 10)  # pages 2.. + empty


@pytest.mark.parametrize("path", ["/v1/newsletters", "/v1/segments"])
def test_a_repeated_cursor_on_the_trailing_empty_page_ends_the_list(
    store: StateStore, live: SandboxServer, api_key: str, path: str
) -> None:
    """Was: the table failed ("a second time"); an empty page is the end whatever its next."""
    table = path.removeprefix("/v1/")
    add_source(store, live, api_key)
    pages = -(-live.workspace.expected_rows(table) // (100 if table == "newsletters" else 10))
    # Pages 2..n carry a start; the next request with one is the trailing empty page.
    live.set_faults([RepeatCursor(path=path, after=pages - 1)])
    outcomes = run_sync(store, "acme", [table])
    assert [(o.status, o.error) for o in outcomes] == [("succeeded", None)]
    assert _snapshot(store, table)[0] == live.workspace.expected_rows(table)
    assert [f["fired"] for f in live.faults()] == [1]


@pytest.mark.parametrize("retry_after", [1, None], ids=["Retry-After 1 (live)", "none (docs)"])
def test_a_busy_workspace_429s_for_seconds_and_the_table_still_syncs(
    baseline: StateStore, sandbox: SandboxServer, workspace: Workspace, retry_after: int | None,
) -> None:
    """docs/customerio-behaviour.md: the workspace's own traffic shares the 10 rps, so 429s go on
    for a while (a minute live, 4 s here). They have their own budget: with 5xx allowed only 2
    attempts, more 429s than that are ridden out."""
    source = baseline.get_source("acme")
    baseline.update_source(replace(source, settings=replace(source.settings, max_attempts=2)))
    outcomes = _sync_with(
        sandbox, baseline, RateLimited(path="/v1/segments", seconds=4.0, retry_after=retry_after)
    )
    assert [(o.table, o.status, o.error) for o in outcomes] == [
        (t, "succeeded", None) for t in TABLES
    ]
    [knob] = sandbox.faults()
    assert knob["fired"] > 2
    segments = [r for r in sandbox.requests() if r.path == "/v1/segments"]
    refused = [r for r in segments if r.status == 429]
    answered = [r for r in segments if r.status == 200]
    # The window was waited out: the first answer came once the 4 s from the first 429 had
    # passed (less the moment between a request's arrival and the sandbox's decision on it).
    assert answered[0].monotonic - refused[0].monotonic >= 3.9
    assert _snapshot(baseline, "segments")[0] == workspace.expected_rows("segments")
