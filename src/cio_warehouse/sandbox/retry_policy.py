"""When Customer.io counts a delivery as failed, and how long it waits before trying again."""

from __future__ import annotations

from dataclasses import dataclass

# spec `info.description`: after these statuses "we'll wait for one hour before we retry".
HOUR_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521})
DAY = 86_400.0


@dataclass(frozen=True)
class RetryPolicy:
    """Delays are nominal seconds; `time_scale` turns them into real ones (0.001: an hour is 3.6 s).

    Published: a 4 s timeout, only a 2xx counts, exponential backoff for seven days, one hour
    first after the statuses above or a refused/reset connection. Not published, so chosen here:
    the first delay after a timeout or another status (`first_delay_s`), the factor, the cap.
    """

    timeout_s: float = 4.0
    first_delay_s: float = 60.0
    hour_delay_s: float = 3_600.0
    factor: float = 2.0
    max_delay_s: float = DAY
    give_up_after_s: float = 7 * DAY
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.time_scale <= 0 or self.factor < 1:
            raise ValueError("timeout_s and time_scale must be positive, factor at least 1")

    def delay(self, failures: int, hour_class: bool) -> float:
        """Nominal seconds before retry number `failures` (1 = after the first failure)."""
        first = self.hour_delay_s if hour_class else self.first_delay_s
        return float(min(self.max_delay_s, first * self.factor ** max(failures - 1, 0)))

    def real(self, nominal_s: float) -> float:
        return nominal_s * self.time_scale
