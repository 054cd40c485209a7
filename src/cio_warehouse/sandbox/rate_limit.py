"""Customer.io's App API limit: 10 requests per second per workspace, over it 429."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class SlidingWindowLimiter:
    """At most `rps` admitted requests in any sliding window of `window` seconds.

    Rejected requests do not take a slot: a client that backs off gets through again as soon as
    the window has room, which is the behaviour a paced client needs to be measured against.
    """

    def __init__(self, rps: int | None, window: float = 1.0) -> None:
        if rps is not None and rps < 1:
            raise ValueError("rate_limit_rps must be >= 1, or None for no limit")
        self.rps = rps
        self.window = window
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float | None = None) -> bool:
        if self.rps is None:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            horizon = now - self.window
            while self._admitted and self._admitted[0] <= horizon:
                self._admitted.popleft()
            if len(self._admitted) >= self.rps:
                return False
            self._admitted.append(now)
            return True

    def retry_after(self, now: float | None = None) -> int:
        """Whole seconds until the window has room again (at least 1), for a 429's Retry-After."""
        now = time.monotonic() if now is None else now
        with self._lock:
            oldest = self._admitted[0] if self._admitted else now
        return max(1, math.ceil(oldest + self.window - now))

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()
