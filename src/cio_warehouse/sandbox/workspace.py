"""A generated Customer.io workspace: ten tables, deterministic from a seed, built row by row."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

from cio_warehouse.sandbox.behaviour import DOCS, Behaviour
from cio_warehouse.sandbox.generators import (
    BUILDERS,
    GenContext,
    Row,
    sender_identity_hidden,
)
from cio_warehouse.sandbox.rng import RowRandom, stable_key
from cio_warehouse.sandbox.tables import TABLES

CursorEnd = Literal["missing", "null", "empty"]
CURSOR_ENDS: tuple[CursorEnd, ...] = get_args(CursorEnd)

_SMALL = {
    "broadcasts": 12, "campaigns": 24, "collections": 6, "newsletters": 250, "object_types": 4,
    "segments": 30, "sender_identities": 240, "snippets": 8, "subscription_topics": 5,
    "transactional": 10,
}


class Workspace:
    """Sizes and a seed; rows are built on demand from (seed, table, index), never stored.

    The same seed and sizes give byte-identical rows in any process, so tests can compare what a
    sync loaded with `rows()`/`expected_rows()` of a Workspace built the same way.
    """

    PRESETS: ClassVar[Mapping[str, Mapping[str, int]]] = MappingProxyType({
        "tiny": {
            "broadcasts": 2, "campaigns": 3, "collections": 1, "newsletters": 5,
            "object_types": 1, "segments": 3, "sender_identities": 6, "snippets": 2,
            "subscription_topics": 2, "transactional": 2,
        },
        "small": _SMALL,
        "medium": {
            "broadcasts": 60, "campaigns": 150, "collections": 20, "newsletters": 5_000,
            "object_types": 8, "segments": 200, "sender_identities": 2_000, "snippets": 40,
            "subscription_topics": 12, "transactional": 40,
        },
        "large": {
            "broadcasts": 300, "campaigns": 1_000, "collections": 50, "newsletters": 100_000,
            "object_types": 8, "segments": 1_000, "sender_identities": 100_000, "snippets": 100,
            "subscription_topics": 20, "transactional": 100,
        },
    })

    def __init__(
        self,
        seed: int = 1,
        *,
        broadcasts: int = _SMALL["broadcasts"],
        campaigns: int = _SMALL["campaigns"],
        collections: int = _SMALL["collections"],
        newsletters: int = _SMALL["newsletters"],
        object_types: int = _SMALL["object_types"],
        segments: int = _SMALL["segments"],
        sender_identities: int = _SMALL["sender_identities"],
        snippets: int = _SMALL["snippets"],
        subscription_topics: int = _SMALL["subscription_topics"],
        transactional: int = _SMALL["transactional"],
        cursor_end: CursorEnd | None = None,
        behaviour: Behaviour = DOCS,
    ) -> None:
        counts = {
            "broadcasts": broadcasts, "campaigns": campaigns, "collections": collections,
            "newsletters": newsletters, "object_types": object_types, "segments": segments,
            "sender_identities": sender_identities, "snippets": snippets,
            "subscription_topics": subscription_topics, "transactional": transactional,
        }
        for table, count in counts.items():
            if count < 0:
                raise ValueError(f"{table}: a row count cannot be negative ({count})")
        if cursor_end is not None and cursor_end not in CURSOR_ENDS:
            raise ValueError(f"cursor_end must be one of {CURSOR_ENDS}, not {cursor_end!r}")
        self.seed = seed
        self.counts: Mapping[str, int] = MappingProxyType(counts)
        self._cursor_end = cursor_end
        # Where the live API differs from the docs, which reading this workspace's API plays.
        self.behaviour = behaviour
        self._ctx = GenContext(seed, self.counts)
        self._senders: dict[bool, array[int]] = {}

    @classmethod
    def preset(cls, name: str, seed: int = 1, **overrides: Any) -> Workspace:
        """A named size: tiny, small (the demo's), medium, large (100k newsletters and senders)."""
        try:
            sizes = dict(cls.PRESETS[name])
        except KeyError:
            choices = sorted(cls.PRESETS)
            raise ValueError(f"unknown preset {name!r}; choose from {choices}") from None
        return cls(seed, **{**sizes, **overrides})

    @classmethod
    def scaled(cls, seed: int = 1, factor: float = 1.0, **overrides: Any) -> Workspace:
        """The small preset with every table multiplied by `factor` (400 -> 100,000 newsletters)."""
        if factor < 0:
            raise ValueError("factor cannot be negative")
        sizes = {table: round(count * factor) for table, count in _SMALL.items()}
        return cls(seed, **{**sizes, **overrides})

    def __repr__(self) -> str:
        sizes = ", ".join(f"{table}={count}" for table, count in self.counts.items())
        return f"Workspace(seed={self.seed}, {sizes})"

    # -- rows -------------------------------------------------------------------------------

    def row(self, table: str, index: int) -> Row:
        """Row `index` (0-based, in list order) of `table`, hidden senders included."""
        count = self._count(table)
        if not 0 <= index < count:
            raise IndexError(f"{table} has {count} rows, no row {index}")
        return BUILDERS[table](self._ctx, index)

    def rows(self, table: str, hidden: bool = True) -> Iterator[Row]:
        """Every row of `table` in list order; `hidden=False` leaves out hidden senders."""
        indices = self._indices(table, hidden)  # KeyError, naming the tables, if unknown
        build = BUILDERS[table]
        for index in indices:
            yield build(self._ctx, index)

    def expected_rows(self, table: str, hidden: bool = True) -> int:
        """How many rows a full read of `table` returns (with or without `?hidden=true`)."""
        if table == "sender_identities" and not hidden:
            return len(self._filtered(hidden=False))
        return self._count(table)

    def is_hidden(self, table: str, index: int) -> bool:
        return table == "sender_identities" and sender_identity_hidden(self._ctx, index)

    def page(
        self, table: str, start: int, limit: int, hidden: bool, only_hidden: bool = False,
    ) -> tuple[list[Row], int | None]:
        """Rows from index `start` on, at most `limit`, and the index the next page starts at.

        The next index is None when nothing is left, so the last page never points at an empty one.
        `only_hidden` lists the hidden senders alone (the live `?hidden=true`).
        """
        build = BUILDERS[table]
        if table == "sender_identities" and (only_hidden or not hidden):
            visible = self._filtered(hidden=only_hidden)
            first = bisect.bisect_left(visible, start)
            chosen = visible[first : first + limit]
            following = first + limit
            next_index = visible[following] if following < len(visible) else None
            return [build(self._ctx, index) for index in chosen], next_index
        count = self._count(table)
        stop = min(start + limit, count)
        rows = [build(self._ctx, index) for index in range(start, stop)]
        return rows, stop if stop < count else None

    def cursor_end(self, table: str) -> CursorEnd:
        """How the last page says "no more": `next` missing, null or "" (customerio-api.md).

        Real clients must handle all three, so the sandbox varies it by seed and table.
        """
        if self._cursor_end is not None:
            return self._cursor_end
        return CURSOR_ENDS[stable_key("cio-sandbox-end", self.seed, table) % len(CURSOR_ENDS)]

    @property
    def fixed_cursor_end(self) -> CursorEnd | None:
        """The end marker chosen for every cursor list, or None when it varies by table."""
        return self._cursor_end

    def info(self) -> dict[str, Any]:
        """The workspace's entry in `GET /v1/workspaces` (workspaces_list.json)."""
        r = RowRandom(stable_key("cio-sandbox-workspace", self.seed))
        sent = r.between(10_000, 900_000)
        object_types = self.counts["object_types"]
        return {
            "id": str(r.between(100_000, 199_999)), "name": f"Sandbox Workspace {self.seed}",
            "messages_sent": sent, "billable_messages_sent": sent * r.between(50, 95) // 100,
            "people": r.between(1_000, 60_000), "object_types": object_types,
            "objects": object_types * r.between(0, 40),
        }

    # -- helpers ----------------------------------------------------------------------------

    def _count(self, table: str) -> int:
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}; the sandbox serves {sorted(TABLES)}")
        return self.counts[table]

    def _indices(self, table: str, hidden: bool) -> Iterator[int]:
        if table == "sender_identities" and not hidden:
            return iter(self._filtered(hidden=False))
        return iter(range(self._count(table)))

    def _filtered(self, hidden: bool) -> array[int]:
        """The indices of the hidden (or the visible) senders, in list order."""
        # Computed once, on first use: ~4 bytes per sender, so 100k senders cost ~0.4 MB.
        if hidden not in self._senders:
            self._senders[hidden] = array("l", (
                index for index in range(self.counts["sender_identities"])
                if sender_identity_hidden(self._ctx, index) == hidden
            ))
        return self._senders[hidden]
