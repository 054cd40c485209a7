"""A thread-safe sliding-window rate limiter: App API request starts stay under 10 a second."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# customerio-api.md: "Rate limit: 10 requests/second per workspace ... Over it: 429". Our clock
# measures when a request leaves, the server's when it arrives: jitter on the network can pull two
# requests that left 1.000 s apart to 0.990 s apart on arrival, and the server would count 11 in one
# second. Widening our window by a small margin absorbs that at a cost of ~2% throughput.
SAFETY_MARGIN_SECONDS = 0.020


class RateLimiter:
    """At most `max_requests` acquisitions START in any sliding window of `per_seconds`.

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
        self._lock = threading.Lock()
        # Start times of the last `max_requests` grants, oldest first.
        self._starts: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        return self.max_requests > 0

    def acquire(self) -> float:
        """Block until a request may start; return the grant time on the limiter's clock."""
        if not self.enabled:
            return self._clock()
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.window:
                    self._starts.popleft()
                if len(self._starts) < self.max_requests:
                    # The grant time is recorded under the lock, so the window property holds
                    # across threads for the recorded times exactly.
                    self._starts.append(now)
                    return now
                wait = self._starts[0] + self.window - now
            # Sleep outside the lock so that other threads can queue; whoever wakes first and
            # finds a free slot takes it, the others sleep again.
            self._sleep(max(wait, 0.0))

    def __repr__(self) -> str:
        if not self.enabled:
            return "RateLimiter(disabled)"
        return f"RateLimiter(max_requests={self.max_requests}, per_seconds={self.per_seconds})"
