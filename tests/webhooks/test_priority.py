"""Heavy threads of the service lower their own priority; the receiver keeps the normal one."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from cio_warehouse.service import priority
from cio_warehouse.service.priority import LowPriorityWarehouse, lower_current_thread_priority
from cio_warehouse.state import DataDir, StateStore

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="niceness per thread is a Linux feature")


def niceness(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def in_thread(work: object) -> dict[str, int]:
    seen: dict[str, int] = {}

    def run() -> None:
        work()  # type: ignore[operator]
        seen["self"] = niceness(threading.get_native_id())

        def child() -> None:
            seen["child"] = niceness(threading.get_native_id())

        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen


@linux_only
def test_only_the_calling_thread_and_what_it_starts_are_lowered() -> None:
    main_before = niceness(threading.get_native_id())
    seen = in_thread(lower_current_thread_priority)
    assert seen == {"self": max(main_before, priority.HEAVY_WORK_NICENESS),
                    "child": max(main_before, priority.HEAVY_WORK_NICENESS)}
    assert niceness(threading.get_native_id()) == main_before


@linux_only
def test_never_raises_a_priority_and_never_fails() -> None:
    def twice() -> None:
        lower_current_thread_priority(15)
        lower_current_thread_priority()  # 10 < 15: left at 15 (going back needs a privilege)

    assert in_thread(twice)["self"] == max(15, niceness(threading.get_native_id()))


def test_a_no_op_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority.sys, "platform", "darwin")
    calls: list[object] = []
    monkeypatch.setattr(priority.os, "setpriority", lambda *args: calls.append(args))
    lower_current_thread_priority()
    assert calls == []


@linux_only
def test_a_thread_that_takes_a_warehouse_cursor_yields(tmp_path: Path) -> None:
    warehouse = LowPriorityWarehouse(DataDir(tmp_path).create())
    try:
        seen = in_thread(lambda: warehouse.cursor().close())
    finally:
        warehouse.close()
    assert seen["self"] >= priority.HEAVY_WORK_NICENESS
    assert seen["self"] >= priority.QUERY_NICENESS  # below the loader's too


def _thread_ids() -> set[int]:
    return {int(task.name) for task in Path("/proc/self/task").iterdir()}


@linux_only
def test_duckdb_starts_its_worker_threads_at_the_queries_niceness(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path).create()
    caller = niceness(threading.get_native_id())
    before = _thread_ids()
    warehouse = LowPriorityWarehouse(data_dir)
    try:
        warehouse.open_first(StateStore(data_dir))  # no source yet: DuckDB is the default
        workers = _thread_ids() - before  # DuckDB's, alive while the instance is open
        assert workers, "DuckDB started no worker thread (threads = 1?)"
        assert {niceness(tid) for tid in workers} == {max(priority.QUERY_NICENESS, caller)}
        assert niceness(threading.get_native_id()) == caller  # the service's own thread keeps it
    finally:
        warehouse.close()
