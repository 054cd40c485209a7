"""A log throttle: the same line, per key, at most once per interval."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class LogThrottle:
    """Says whether a repeated log line may go out now: at most once per `every_seconds` per key.

    A failure that repeats hundreds of times a second (a full disk, a database that is down, a
    sender with the wrong key) would otherwise flood a log that often sits on that same disk.
    Not locked: each owner calls it from one thread (the event loop, or its worker thread).
    """

    def __init__(
        self, every_seconds: float = 60.0, *, clock: Callable[[], float] | None = None
    ) -> None:
        self.every_seconds = every_seconds
        self._clock = clock  # None: time.monotonic, looked up per call (tests patch it)
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable = None) -> bool:
        """True, and the interval starts again, when `key`'s line may be logged now."""
        now = time.monotonic() if self._clock is None else self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every_seconds:
            return False
        self._last[key] = now
        return True

    def reset(self, key: Hashable = None) -> None:
        """The next line for `key` goes out at once (e.g. a failure after a logged recovery)."""
        self._last.pop(key, None)
