"""The sandbox's record of every App API request: when it arrived and how it was answered."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

_KEEP = 200_000


@dataclass(frozen=True)
class LoggedRequest:
    # Both clocks: monotonic to count requests per second, wall time to line up with other logs.
    monotonic: float
    time: float
    method: str
    path: str
    query: str
    # 0 when no response was started (the client went away first).
    status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Bounded (the newest 200,000 requests) so that a long benchmark cannot grow it forever."""

    def __init__(self) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=_KEEP)
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        """In order of arrival (a slow request is logged when answered, but sorts by arrival)."""
        with self._lock:
            entries = list(self._entries)
        return sorted(entries, key=lambda entry: entry.monotonic)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
