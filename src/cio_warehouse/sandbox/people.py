"""The people deliveries go to: identifiers, addresses and devices, built from an index alone."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.rng import RowRandom, mix64, stable_key

_FIRST = ("ada", "grace", "alan", "linus", "margaret", "ken", "barbara", "dennis", "frances",
          "edsger", "radia", "tim", "katherine", "donald", "hedy", "cher", "sophie", "john")
_LAST = ("lovelace", "hopper", "turing", "torvalds", "hamilton", "thompson", "liskov", "ritchie",
         "allen", "dijkstra", "perlman", "bernerslee", "johnson", "knuth", "lamarr", "wilson")
_DOMAINS = ("example.com", "example.org", "mail.example.net", "inbox.example.com")


@dataclass(frozen=True)
class Device:
    device_id: str
    platform: str  # device_platform: "ios" or "android" (spec)


@dataclass(frozen=True)
class Person:
    index: int
    id: str | None
    email: str | None
    cio_id: str
    phone: str
    devices: tuple[Device, ...]
    deleted: bool

    @property
    def customer_id(self) -> str:
        """The deprecated `customer_id`: "Blank if the person in question has been deleted"."""
        return "" if self.deleted or self.id is None else self.id

    def identifiers(self) -> dict[str, Any]:
        """webhook_identifiers: id, email (either may be null in a multi-identifier workspace)
        and cio_id, "all of the identifiers available ... even if they aren't set"."""
        return {"id": self.id, "email": self.email, "cio_id": self.cio_id}

    def reaches(self, channel: str) -> bool:
        if channel == "email":
            return self.email is not None
        if channel == "push":
            return bool(self.devices)
        return True


class People:
    """`count` people (the workspace's `people`); person i is the same in every process."""

    def __init__(self, seed: int, count: int) -> None:
        self.count = max(count, 1)
        self._salt = stable_key("cio-sandbox-people", seed)
        self._cio_prefix = f"{stable_key('cio-sandbox-cio-id', seed) & 0xFFFF:04x}"

    def person(self, index: int) -> Person:
        r = RowRandom(mix64(self._salt ^ index))
        first, last = r.pick(_FIRST), r.pick(_LAST)
        kind = r.below(100)
        # About 4% are known only by email (id null) and 8% only by phone (email null).
        pid = None if kind < 4 else str(10_000 + index)
        email = None if 4 <= kind < 12 else f"{first}.{last}{index}@{r.pick(_DOMAINS)}"
        devices = tuple(_device(r) for _ in range(r.below(3)))
        return Person(
            index=index, id=pid, email=email, cio_id=f"{self._cio_prefix}{index + 1:08x}",
            phone=f"+1{r.between(201, 989)}555{r.between(1000, 9999)}", devices=devices,
            deleted=r.below(200) == 0,
        )

    def pick(self, r: RowRandom, channel: str) -> Person:
        """Someone this channel can reach (an email address for email, a device for push)."""
        person = self.person(r.below(self.count))
        for _ in range(16):
            if person.reaches(channel):
                return person
            person = self.person(r.below(self.count))
        return _reachable(person, channel)


def _device(r: RowRandom) -> Device:
    if r.chance(55):
        return Device(r.hex(64), "ios")  # an APNs token: 64 hex digits
    # An FCM token: 22 then 60 URL-safe base64 characters (from hex draws: one hash per 16).
    token = base64.urlsafe_b64encode(bytes.fromhex(r.hex(34))).decode()[:22]
    tail = base64.urlsafe_b64encode(bytes.fromhex(r.hex(90))).decode()
    return Device(f"{token}:APA91b{tail}", "android")


def _reachable(person: Person, channel: str) -> Person:
    """A last resort for tiny populations: give the person what the channel needs."""
    if channel == "email" and person.email is None:
        return Person(person.index, person.id, f"person{person.index}@example.com",
                      person.cio_id, person.phone, person.devices, person.deleted)
    if channel == "push" and not person.devices:
        r = RowRandom(mix64(person.index ^ 0x5EED))
        return Person(person.index, person.id, person.email, person.cio_id, person.phone,
                      (_device(r),), person.deleted)
    return person
