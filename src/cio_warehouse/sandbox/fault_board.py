"""The armed fault knobs of a running sandbox: which one fires on a request, and what is left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.faults import (
    FailAlways,
    Fault,
    Latency,
    RateLimited,
    RepeatCursor,
    fault_to_json,
    validate,
)

_DEFAULT_SCOPE = "/v1/"
_KEY_CHECK = "/v1/workspaces"


@dataclass
class _Armed:
    fault: Fault
    seen: int = 0
    fired: int = 0
    first_fired_at: float | None = None  # a timed rate_limited knob: when its window opened


@dataclass(frozen=True)
class Decision:
    """What the knobs do to one request: extra latency, and at most one firing fault."""

    latency_ms: float = 0.0
    fault: Fault | None = None


NO_FAULT = Decision()


def matches(fault: Fault, path: str) -> bool:
    if fault.path is None:
        return path.startswith(_DEFAULT_SCOPE) and not path.startswith(_KEY_CHECK)
    return path.startswith(fault.path)


class FaultBoard:
    """Knobs are set from the test's thread and consumed on the server's loop: hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def replace(self, faults: Iterable[Fault]) -> None:
        armed = []
        for fault in faults:
            validate(fault)
            armed.append(_Armed(fault))
        with self._lock:
            self._armed = armed

    def clear(self) -> None:
        with self._lock:
            self._armed = []

    def snapshot(self) -> list[dict[str, Any]]:
        """The knobs as JSON, each with how many matching requests it saw and how often it fired."""
        with self._lock:
            return [
                {**fault_to_json(armed.fault), "seen": armed.seen, "fired": armed.fired}
                for armed in self._armed
            ]

    def decide(self, path: str, has_cursor: bool) -> Decision:
        """Every matching knob sees the request; the first one due fires (in list order).

        `has_cursor`: the request is on a cursor-paged list and carries `start`, the only kind of
        request a repeat_cursor knob can act on.
        """
        if not self._armed:
            return NO_FAULT
        latency = 0.0
        firing: Fault | None = None
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if not matches(fault, path):
                    continue
                if isinstance(fault, Latency):
                    latency += fault.ms
                    continue
                if isinstance(fault, RepeatCursor) and not has_cursor:
                    continue
                armed.seen += 1
                if firing is not None:
                    continue
                if isinstance(fault, FailAlways):
                    armed.fired += 1
                    firing = fault
                    continue
                if isinstance(fault, RateLimited) and fault.seconds is not None:
                    if _window_open(armed, fault.seconds, fault.after):
                        armed.fired += 1
                        firing = fault
                    continue
                due = armed.seen > fault.after
                left = fault.count is None or armed.fired < fault.count
                if due and left:
                    armed.fired += 1
                    firing = fault
        return Decision(latency, firing)


def _window_open(armed: _Armed, seconds: float, after: int) -> bool:
    """A timed knob fires on every request from its first one (past `after`) for `seconds`."""
    if armed.seen <= after:
        return False
    now = time.monotonic()
    if armed.first_fired_at is None:
        armed.first_fired_at = now
    return now - armed.first_fired_at < seconds
