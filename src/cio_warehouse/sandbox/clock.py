"""The sandbox's own now: wall time plus an offset that tests move forward (or set)."""

from __future__ import annotations

import threading
import time


class SandboxClock:
    """What "now" is for message history: which deliveries exist and which metrics happened.

    Moving it lets a test read history "days later" without waiting; it does not pace the
    webhook sender, whose events carry their own planned times.
    """

    def __init__(self) -> None:
        self._offset_s = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Unix seconds."""
        with self._lock:
            return time.time() + self._offset_s

    def advance(self, seconds: float) -> float:
        """Move now by `seconds` (negative goes back); returns the new now."""
        with self._lock:
            self._offset_s += seconds
            return time.time() + self._offset_s

    def set(self, now: float) -> float:
        """Make now `now` (unix seconds); time goes on from there."""
        with self._lock:
            self._offset_s = now - time.time()
            return now
