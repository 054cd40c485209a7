"""What an inbox holds and answers: deliveries, pending rows, claims, health, backends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# Customer.io retries a failed delivery for up to 7 days: keep loaded rows a day longer so that a
# late retry still meets its event_id and is recognised as a duplicate.
RETENTION_SECONDS = 8 * 24 * 3600


class Kind(StrEnum):
    """What the receiver does with a delivery; each kind has its own health counter."""

    EVENT = "event"  # signed, a JSON object with event_id and object_type: stored (or duplicate)
    DEAD_LETTER = "dead_letter"  # signed but unusable: stored raw, never lost
    REJECTED = "rejected"  # bad or missing signature, stale timestamp: nothing stored
    DROPPED = "dropped"  # no signing key configured yet: nothing stored, acked


@dataclass(frozen=True)
class Submission:
    source: str
    kind: Kind
    received_at: float
    body: bytes = b""
    event_id: str | None = None
    reason: str | None = None  # why rejected or dead-lettered


class Result(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    DROPPED = "dropped"


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    source: str
    event_id: str
    received_at: float
    body: bytes


@dataclass(frozen=True)
class PendingDeadLetter:
    seq: int
    source: str
    received_at: float
    reason: str
    body: bytes


@dataclass(frozen=True)
class Health:
    source: str
    counters: dict[str, int]  # received, stored, duplicates, dead_letters, dropped, rejected:<why>
    last_delivery_at: float | None
    last_rejected_at: float | None
    last_rejection: str | None
    consecutive_rejections: int
    backlog: int  # stored but not yet in the warehouse
    oldest_pending_at: float | None = None  # when the oldest of the backlog was received

    @property
    def rejected(self) -> int:
        return sum(v for k, v in self.counters.items() if k.startswith("rejected:"))


class InboxUnavailable(ConnectionError):
    """The shared inbox's database cannot be reached or failed a statement: nothing was
    committed (the receiver answers 503), or a claim is lost (its rows load again later).
    The message never holds the URL's password."""


class Claim(Protocol):
    """Pending rows taken by one loader for one drain (the loader), and how it settles them."""

    events: list[PendingEvent]
    dead_letters: list[PendingDeadLetter]

    def mark_loaded(self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()) -> None:
        """After the warehouse committed these rows; final when the claim ends."""

    def exclusive(self, key: str) -> AbstractContextManager[None]:
        """Held around a load into the warehouse `key` names, against the other loaders of this
        inbox (a dlt merge stages its rows in tables that two loads at once would share)."""


class InboxBackend(Protocol):
    """What the receiver, the loader, `status` and `source remove` need of an inbox."""

    def close(self) -> None: ...

    def write(self, submissions: Sequence[Submission]) -> list[Result]:
        """A group in one durable transaction; raises when nothing could be committed."""

    def pending_events(self, limit: int) -> list[PendingEvent]: ...

    def pending_dead_letters(self, limit: int) -> list[PendingDeadLetter]: ...

    def claim(
        self, limit: int, sources: Sequence[str] | None = None
    ) -> AbstractContextManager[Claim]:
        """Up to `limit` pending events and dead letters for one loader; of `sources` only, if
        given (a shared inbox: each loader loads the sources its data dir knows)."""

    def mark_loaded(
        self, event_seqs: Iterable[int], dead_letter_seqs: Iterable[int] = ()
    ) -> None: ...

    def prune(self, now: float | None = None) -> int: ...

    def forget_source(self, source: str) -> None: ...

    def health(self, source: str) -> Health: ...


_COUNTER = {
    Result.STORED: "stored",
    Result.DUPLICATE: "duplicates",
    Result.DEAD_LETTERED: "dead_letters",
    Result.DROPPED: "dropped",
}


def tally_health(
    submissions: Sequence[Submission], results: Sequence[Result]
) -> tuple[list[tuple[str, str, int]], list[list[object]]]:
    """The group's health: counter increments, and one health_marks row per source."""
    counts: dict[tuple[str, str], int] = {}
    marks: dict[str, list[object]] = {}
    for sub, result in zip(submissions, results, strict=True):
        source = sub.source
        counter = _COUNTER.get(result) or f"rejected:{sub.reason or 'unknown'}"
        counts[(source, "received")] = counts.get((source, "received"), 0) + 1
        counts[(source, counter)] = counts.get((source, counter), 0) + 1
        # [source, last_delivery_at, last_rejected_at, last_rejection, rejections since then]
        mark = marks.get(source)
        if mark is None:
            mark = marks[source] = [source, None, None, None, 0]
        if result is Result.REJECTED:
            mark[2] = sub.received_at
            mark[3] = sub.reason
            mark[4] += 1  # type: ignore[operator]
        else:
            mark[1] = sub.received_at
            mark[4] = 0
    return [(s, c, n) for (s, c), n in counts.items()], list(marks.values())
