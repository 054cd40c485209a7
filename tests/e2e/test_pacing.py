"""The client never sends more than 10 requests in any second, counted where it matters: at the
sandbox, across every table of a sync running concurrently."""

from __future__ import annotations

import bisect

import httpx
from benchmarks.harness import sandbox_process

from cio_warehouse.state import StateStore
from cio_warehouse.sync.runner import run_sync
from tests.helpers import add_source


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    # For each request, how many arrived in the one-second window that it opens.
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


def test_sync_stays_within_ten_requests_per_second(store: StateStore) -> None:
    # ~45 requests: both cursor tables page 15+ times while the eight others run beside them.
    # The sandbox runs in a process of its own, as Customer.io would: in this one, the sync's
    # threads would hold the GIL and delay the moment it notes an arrival.
    workspace = ("--preset", "small", "--seed", "3",
                 "--rows", "newsletters=1600", "--rows", "sender_identities=1600")
    with sandbox_process(*workspace) as sandbox:
        add_source(store, sandbox, sandbox.key)
        outcomes = run_sync(store, "acme")
        logged = httpx.get(f"{sandbox.url}/_sandbox/requests").json()["requests"]
    log = [r for r in logged if r["path"].startswith("/v1/")]
    assert all(o.status == "succeeded" for o in outcomes)
    assert len(log) >= 40
    assert [r for r in log if r["status"] == 429] == []  # the sandbox enforces 10 rps too
    assert _max_in_any_second([r["monotonic"] for r in log]) <= 10
