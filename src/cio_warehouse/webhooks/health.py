"""Delivery health in one sentence: is the stream flowing, stalled, or failing, and what to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cio_warehouse.webhooks.inbox import Health

# Three rejections in a row: not a stray probe but a stream that Customer.io is now retrying and
# holding back (head-of-line blocking), most likely signed with another key.
REJECTION_STREAK = 3


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class DeliveryCounters:
    """The inbox's health counters, typed: the inbox keeps them as named counts, a rejection as
    `rejected:<reason>` (one per reason)."""

    received: int
    stored: int
    duplicates: int
    dropped: int  # no signing key was stored
    dead_letters: int
    rejected_by_reason: dict[str, int]

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> DeliveryCounters:
        return cls(
            received=counters.get("received", 0),
            stored=counters.get("stored", 0),
            duplicates=counters.get("duplicates", 0),
            dropped=counters.get("dropped", 0),
            dead_letters=counters.get("dead_letters", 0),
            rejected_by_reason={
                k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("rejected:")
            },
        )


@dataclass(frozen=True)
class Assessment:
    level: Level
    message: str


def assess(
    health: Health, *, source: str, has_signing_key: bool, registered: bool
) -> Assessment:
    """The verdict; its commands name `source`, so that they run as shown."""
    if health.consecutive_rejections >= REJECTION_STREAK:
        return Assessment(
            Level.ERROR,
            f"The last {health.consecutive_rejections} deliveries were rejected "
            f"({health.last_rejection}); Customer.io holds every later event back until one is "
            "accepted. Most likely the signing key is wrong: copy it again from Customer.io and "
            f"store it with `cio-warehouse webhook signing-key {source}`.",
        )
    if not has_signing_key:
        dropped = DeliveryCounters.of(health.counters).dropped
        return Assessment(
            Level.ERROR if dropped else Level.WARNING,
            (f"{dropped} deliveries were dropped because " if dropped else "Deliveries will be "
             "dropped because " if registered else "No webhook yet, and ")
            + "no signing key is stored: copy it from Customer.io and run "
            f"`cio-warehouse webhook signing-key {source}`.",
        )
    if not registered:
        return Assessment(
            Level.WARNING,
            f"No reporting webhook is registered: run `cio-warehouse webhook register {source} "
            "--url PUBLIC_URL` or follow the manual steps it prints.",
        )
    if health.last_delivery_at is None:
        return Assessment(Level.OK, "Waiting for the first delivery from Customer.io.")
    return Assessment(Level.OK, "Deliveries are flowing.")
