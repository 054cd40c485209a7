"""The client never sends more than 10 requests in any second, counted where it matters: at the
sandbox, across every table of a sync running concurrently."""

from __future__ import annotations

import bisect

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import StateStore
from cio_warehouse.sync.runner import run_sync
from tests.helpers import add_source


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    # For each request, how many arrived in the one-second window that it opens.
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


def test_sync_stays_within_ten_requests_per_second(store: StateStore, api_key: str) -> None:
    # ~45 requests: both cursor tables page 15+ times while the eight others run beside them.
    workspace = Workspace.preset("small", seed=3, newsletters=1600, sender_identities=1600)
    with SandboxServer(workspace, api_key=api_key) as sandbox:
        add_source(store, sandbox, api_key)
        outcomes = run_sync(store, "acme")
        log = [r for r in sandbox.requests() if r.path.startswith("/v1/")]
    assert all(o.status == "succeeded" for o in outcomes)
    assert len(log) >= 40
    assert [r for r in log if r.status == 429] == []  # the sandbox enforces 10 rps too
    assert _max_in_any_second([r.monotonic for r in log]) <= 10
