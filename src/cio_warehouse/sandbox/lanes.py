"""A webhook's delivery queue as the sender keeps it: the deliveries in order, one in flight."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Mode = Literal["normal", "duplicate", "reorder", "stale", "bad_signature", "bad_body", "unsigned"]
MODES: tuple[Mode, ...] = get_args(Mode)
# Knob requests that no real Customer.io sends: tried once, never retried, never blocking.
PROBES: frozenset[str] = frozenset({"stale", "bad_signature", "bad_body", "unsigned"})
DEFAULT_STALE_BY_S = 3_600.0
_REMEMBER_DELIVERED = 10_000


@dataclass
class Item:
    event_id: str
    body: bytes
    mode: Mode
    stale_by_s: float = 0.0
    attempts: int = 0
    first_try: float | None = None  # monotonic


@dataclass
class Lane:
    """One webhook's queue: strictly in order, one request in flight (head-of-line)."""

    webhook_id: int
    queue: deque[Item] = field(default_factory=deque)
    delivered: deque[Item] = field(default_factory=lambda: deque(maxlen=_REMEMBER_DELIVERED))
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Enqueued:
    """What a `send` put in the queues: the events, and how many deliveries per webhook."""

    event_ids: list[str]
    queued: dict[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"event_ids": self.event_ids,
                "queued": {str(hook): n for hook, n in self.queued.items()}}
