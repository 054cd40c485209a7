"""Exponential capped backoff (tenacity's wait) for loops that count their own failures."""

from __future__ import annotations

import random
from typing import cast

import tenacity


class Backoff:
    """The wait after each failure in a row: `first`, doubled per failure, at most `cap`.

    For loops that run forever and report when they retry (the event loader, the receiver's
    watcher), where tenacity's Retrying, which wraps one call, does not fit; the delays are
    tenacity's own. With `jitter`, a delay is drawn uniformly from [0, that ceiling] ("full
    jitter"), so that callers that failed together do not come back in the same instant.
    Not locked: the owner serialises its calls.
    """

    def __init__(self, first: float, cap: float, *, jitter: random.Random | None = None) -> None:
        self._ceiling = tenacity.wait_exponential(multiplier=first, max=cap)
        self._jitter = jitter
        self.failures = 0

    def after(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (the first failure waits `first`)."""
        # tenacity's waits read only the attempt number of the call state.
        state = tenacity.RetryCallState(cast(tenacity.BaseRetrying, None), None, (), {})
        state.attempt_number = max(failures, 1)
        ceiling = self._ceiling(state)
        return ceiling if self._jitter is None else self._jitter.uniform(0.0, ceiling)

    def failed(self) -> float:
        """Count one more failure; the wait before the next try."""
        self.failures += 1
        return self.after(self.failures)

    def succeeded(self) -> None:
        """The next failure waits `first` again."""
        self.failures = 0
