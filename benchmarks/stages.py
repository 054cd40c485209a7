"""Where a drain's time goes: the loader's own stages timed as they run, and the CPU each side
of the drain spent.

The product's functions are wrapped in place for one drain (and restored after): each call is
timed with a monotonic clock, per batch or per table, never per event, so the wrappers cost
nothing measurable. What no wrapper covers (dlt making the tables, the claim's own work, the
loop) is "other". CPU: this process's user+system time, and PostgreSQL's (the postmaster and
every backend) for a drain into it, over the events loaded: which side is the limit.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cio_warehouse.webhooks import loader as loader_module
from cio_warehouse.webhooks.inbox import sqlite as sqlite_inbox
from cio_warehouse.webhooks.loading import appends, pipelines

# (stage, owner, attribute): the callables timed, in the order the table shows them.
STAGES: tuple[tuple[str, Any, str], ...] = (
    ("inbox read", sqlite_inbox.Inbox, "pending_events"),
    ("inbox read", sqlite_inbox.Inbox, "pending_dead_letters"),
    ("rows: parse, route, type", loader_module, "items_by_source"),
    ("Arrow", pipelines.SourcePipeline, "batch"),
    ("engine insert", appends.DuckDBAppends, "append"),
    ("engine insert", appends.PostgresAppends, "append"),
    ("engine insert", appends.PostgresAppends, "columns"),
    ("engine insert", appends.DuckDBAppends, "columns"),
    ("inbox marks", sqlite_inbox.Inbox, "mark_loaded"),
    ("closing (DuckDB checkpoint)", pipelines.Pipelines, "let_go"),
)
NAMES = tuple(dict.fromkeys(name for name, _, _ in STAGES))


@dataclass
class Profile:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(NAMES, 0.0))
    wall: float = 0.0
    cpu: float = 0.0  # this process
    server_cpu: float | None = None  # PostgreSQL's processes, for a drain into it

    def per_event_us(self, events: int) -> dict[str, float]:
        timed = {name: s / events * 1e6 for name, s in self.seconds.items()}
        timed["other (dlt tables, claim, loop)"] = max(
            0.0, (self.wall - sum(self.seconds.values())) / events * 1e6)
        return timed


@contextmanager
def profiled(postgres_root: Path | None = None) -> Iterator[Profile]:
    profile = Profile()
    originals = [(owner, attr, getattr(owner, attr)) for _, owner, attr in STAGES]
    for (name, owner, attr), (_, _, original) in zip(STAGES, originals, strict=True):
        setattr(owner, attr, _timed(original, name, profile))
    me = psutil.Process()
    cpu_before, server_before = _cpu(me), _server_cpu(postgres_root)
    started = time.monotonic()
    try:
        yield profile
    finally:
        profile.wall = time.monotonic() - started
        profile.cpu = _cpu(me) - cpu_before
        server_after = _server_cpu(postgres_root)
        if server_before is not None and server_after is not None:
            profile.server_cpu = server_after - server_before
        for owner, attr, original in originals:
            setattr(owner, attr, original)


def _timed(function: Callable[..., Any], name: str, profile: Profile) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            profile.seconds[name] += time.monotonic() - started

    return timed


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _server_cpu(root: Path | None) -> float | None:
    """The postmaster's CPU and its backends' (those that ended included, as children's)."""
    if root is None:
        return None
    pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    total = _cpu(postmaster) + postmaster.cpu_times().children_user
    total += postmaster.cpu_times().children_system
    for child in postmaster.children(recursive=True):
        try:
            total += _cpu(child)
        except psutil.NoSuchProcess:
            continue
    return total
