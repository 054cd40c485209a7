"""A drain's batch: the claimed inbox rows as warehouse rows per source, deduplicated by key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cio_warehouse import catalog
from cio_warehouse.webhooks import event_rows
from cio_warehouse.webhooks.event_rows import RowError
from cio_warehouse.webhooks.inbox.model import Claim

DEAD_LETTERS_TABLE = catalog.DEAD_LETTERS.name


@dataclass(slots=True)
class Item:
    """One row to load and the inbox rows it settles."""

    table: str
    key: str
    row: dict[str, Any]
    variants: frozenset[str] = frozenset()
    event_seqs: list[int] = field(default_factory=list)
    dead_letter_seqs: list[int] = field(default_factory=list)
    # For an event the warehouse refuses: the raw body and when it arrived.
    body: bytes = b""
    received_at: float = 0.0


@dataclass
class Tally:
    """What the loads of a drain committed, and how many failed."""

    events: int = 0
    dead_letters: int = 0
    isolated: int = 0
    loads: int = 0
    failed_loads: int = 0
    by_table: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.events += other.events
        self.dead_letters += other.dead_letters
        self.isolated += other.isolated
        self.loads += other.loads
        self.failed_loads += other.failed_loads
        for table, n in other.by_table.items():
            self.by_table[table] = self.by_table.get(table, 0) + n

    def committed(self, items: Sequence[Item]) -> None:
        self.loads += 1
        for item in items:
            if item.table == DEAD_LETTERS_TABLE:
                self.dead_letters += 1
            else:
                self.events += 1
            self.by_table[item.table] = self.by_table.get(item.table, 0) + 1


def items_by_source(claim: Claim) -> dict[str, list[Item]]:
    """The claim's events and dead letters as rows, per source, in the claim's order; a row
    whose key came before only settles its inbox row as well."""
    groups: dict[str, dict[tuple[str, str], Item]] = {}
    for ev in claim.events:
        _add(groups.setdefault(ev.source, {}), _event_item(ev.seq, ev.event_id,
                                                           ev.received_at, ev.body))
    for dl in claim.dead_letters:
        _add(groups.setdefault(dl.source, {}), dead_letter_item(
            f"inbox-{dl.seq}-{event_rows.timestamp_us(dl.received_at)}",
            dl.received_at, dl.reason, dl.body, origin="receiver",
            dead_letter_seqs=[dl.seq]))
    return {source: list(items.values()) for source, items in groups.items()}


def _add(group: dict[tuple[str, str], Item], item: Item) -> None:
    """Deduplicate within the batch: a second row with the same key only settles its inbox row."""
    existing = group.get((item.table, item.key))
    if existing is None:
        group[(item.table, item.key)] = item
    else:
        existing.event_seqs.extend(item.event_seqs)
        existing.dead_letter_seqs.extend(item.dead_letter_seqs)


def _event_item(seq: int, event_id: str, received_at: float, body: bytes) -> Item:
    try:
        row = event_rows.event_row(body, event_id=event_id, received_at=received_at)
    except RowError as exc:
        return dead_letter_item(
            f"event-{event_id}", received_at, str(exc), body, origin="loader",
            event_id=event_id, event_seqs=[seq],
        )
    return Item(row.table, event_id, row.values, row.variants, [seq], [], body, received_at)


def dead_letter_item(
    key: str,
    received_at: float,
    reason: str,
    body: bytes,
    *,
    origin: str,
    event_id: str | None = None,
    event_seqs: Iterable[int] = (),
    dead_letter_seqs: Iterable[int] = (),
) -> Item:
    row: dict[str, Any] = {
        "dead_letter_id": key,
        "received_at": event_rows.timestamp_us(received_at),
        "reason": _safe_text(reason.encode("utf-8", "surrogatepass")),
        "body": _safe_text(body),
        "event_id": event_id,
        "origin": origin,
    }
    return Item(DEAD_LETTERS_TABLE, key, row, frozenset(), list(event_seqs),
                list(dead_letter_seqs), body, received_at)


def _safe_text(raw: bytes) -> str:
    """Text any warehouse stores: bytes that are not UTF-8 (and NUL) become backslash escapes."""
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
