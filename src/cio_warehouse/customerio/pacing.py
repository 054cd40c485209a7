"""A thread-safe sliding-window rate limiter: App API requests stay under 10 a second where
Customer.io counts them, on arrival."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# customerio-api.md: "Rate limit: 10 requests/second per workspace ... Over it: 429". Our clock
# measures when a request leaves, the server's when it arrives: jitter on the network can pull two
# requests that left 1.000 s apart to 0.990 s apart on arrival, and the server would count 11 in one
# second. Widening our window by a small margin absorbs that at a cost of ~2% throughput.
SAFETY_MARGIN_SECONDS = 0.020


class Slot:
    """One request's place in the window, counted from the moment its bytes left.

    Between the grant and the send a request can wait tens of milliseconds (a new connection, a
    thread that is not scheduled yet). Counting it at the grant would let ten later, punctual
    requests fit in the second after a late one: 11 arrivals at Customer.io. So a slot is held,
    uncounted and unexpirable, until `sent()` (or the end of the attempt, whichever comes first).
    """

    __slots__ = ("_limiter", "granted", "counted_at")

    def __init__(self, limiter: RateLimiter, granted: float) -> None:
        self._limiter = limiter
        self.granted = granted
        self.counted_at = math.inf  # in flight: occupies the window until counted

    def sent(self) -> None:
        """The request has left: its second starts now (later calls change nothing)."""
        self._limiter._count(self)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """An httpx `trace` extension: count the request once its headers are on the wire."""
        if event.endswith("send_request_headers.complete"):
            self.sent()


class RateLimiter:
    """At most `max_requests` requests are counted in any sliding window of `per_seconds`.

    One limiter is shared by every thread (every concurrent table sync) of one source, because the
    limit is per workspace. `max_requests=None` or `0` disables pacing (benchmarks, tests).
    """

    def __init__(
        self,
        max_requests: int | None = 10,
        per_seconds: float = 1.0,
        *,
        margin_seconds: float = SAFETY_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_requests is not None and max_requests < 0:
            raise ValueError(f"max_requests must be >= 0 or None, got {max_requests}")
        if per_seconds <= 0:
            raise ValueError(f"per_seconds must be > 0, got {per_seconds}")
        if margin_seconds < 0:
            raise ValueError(f"margin_seconds must be >= 0, got {margin_seconds}")
        self.max_requests = max_requests or 0
        self.per_seconds = per_seconds
        self.window = per_seconds + margin_seconds
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()
        self._slots: list[Slot] = []  # at most `max_requests`: a scan is cheaper than a heap

    @property
    def enabled(self) -> bool:
        return self.max_requests > 0

    @contextmanager
    def hold(self) -> Iterator[Slot]:
        """Wait for room, then hold a slot for one attempt; it counts from `slot.sent()`, or from
        the end of the block if the request never said it left (a transport without tracing)."""
        slot = self._grant()
        try:
            yield slot
        finally:
            self._count(slot)

    def _grant(self) -> Slot:
        if not self.enabled:
            slot = Slot(self, self._clock())
            slot.counted_at = slot.granted
            return slot
        while True:
            with self._changed:
                now = self._clock()
                self._slots = [s for s in self._slots if s.counted_at > now - self.window]
                if len(self._slots) < self.max_requests:
                    slot = Slot(self, now)
                    self._slots.append(slot)
                    return slot
                earliest = min(s.counted_at for s in self._slots)
                if earliest == math.inf:
                    # Every slot is in flight: none can expire before one of them is counted.
                    self._changed.wait()
                    continue
                wait = earliest + self.window - now
            # Sleep outside the lock so that other threads can queue; whoever wakes first and
            # finds a free slot takes it, the others sleep again. A slot counted meanwhile expires
            # later than `earliest`, so this wait is never too short.
            self._sleep(max(wait, 0.0))

    def _count(self, slot: Slot) -> None:
        with self._changed:
            if slot.counted_at == math.inf:
                slot.counted_at = self._clock()
                self._changed.notify_all()

    def __repr__(self) -> str:
        if not self.enabled:
            return "RateLimiter(disabled)"
        return f"RateLimiter(max_requests={self.max_requests}, per_seconds={self.per_seconds})"
