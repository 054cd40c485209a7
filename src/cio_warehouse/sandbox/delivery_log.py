"""What the webhook sender did: one record per HTTP attempt, and counters per webhook."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any

_KEEP = 50_000  # the newest attempts: a long stream must not grow the log forever


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    webhook_id: int
    attempt: int  # 1 for the first try of this queued delivery, 2 for its first retry, ...
    status: int | None  # the HTTP status, None when no response came (timeout, refused, ...)
    error: str | None  # "timeout", "connection refused", ... or None
    ok: bool  # a 2xx within the timeout: what Customer.io counts as delivered
    latency_s: float
    time: float  # wall clock when the request was sent
    timestamp: int  # the X-CIO-Timestamp header it carried
    mode: str  # normal, duplicate, reorder, stale, bad_signature, bad_body or unsigned
    next_retry_s: float | None = None  # real seconds until the retry, when one follows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WebhookDeliveryStats:
    queued: int = 0  # deliveries put in this webhook's queue
    delivered: int = 0  # of them, answered 2xx in time
    failed_attempts: int = 0  # attempts that did not count (non-2xx, timeout, no connection)
    retries: int = 0  # attempts after the first of a delivery
    pending: int = 0  # waiting in the queue, the one in flight or backing off included
    given_up: int = 0  # dropped after the retry window (7 days, scaled)
    dropped: int = 0  # discarded because the webhook was disabled or deleted
    probes: int = 0  # knob requests (stale, bad_signature, bad_body, unsigned): never retried
    last_status: int | None = None
    last_error: str | None = None
    blocked: bool = False  # the head of the queue failed and later deliveries wait behind it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryLog:
    """Thread-safe: the sender's loop writes, tests and control routes read."""

    _attempts: deque[DeliveryAttempt] = field(default_factory=lambda: deque(maxlen=_KEEP))
    _stats: dict[int, WebhookDeliveryStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self._attempts.append(attempt)

    def attempts(self) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._attempts)

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()

    def count(self, webhook_id: int, **increments: int) -> None:
        """Add to counters of one webhook's stats (negative to take away)."""
        with self._lock:
            stats = self._stats.setdefault(webhook_id, WebhookDeliveryStats())
            for name, value in increments.items():
                setattr(stats, name, getattr(stats, name) + value)

    def note(self, webhook_id: int, **values: object) -> None:
        """Set fields of one webhook's stats (last_status, last_error, blocked)."""
        with self._lock:
            stats = self._stats.setdefault(webhook_id, WebhookDeliveryStats())
            for name, value in values.items():
                setattr(stats, name, value)

    def stats(self) -> dict[int, WebhookDeliveryStats]:
        with self._lock:
            return {webhook_id: replace(stats) for webhook_id, stats in self._stats.items()}

    def pending(self) -> int:
        with self._lock:
            return sum(stats.pending for stats in self._stats.values())
