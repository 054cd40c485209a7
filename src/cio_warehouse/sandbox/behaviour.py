"""Where the live App API differs from its docs: one switch per finding, docs or live reading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HiddenSenders = Literal["docs", "live"]


@dataclass(frozen=True)
class Behaviour:
    """Which reading of Customer.io the sandbox plays; the default is the docs' on every switch."""

    # docs: `?hidden=true` lists every sender ("includes hidden senders"). live (a peer's
    # maintainers, Oct 2026): it lists only the hidden ones; the visible ones come without it.
    hidden_senders: HiddenSenders = "docs"
    # live: a cursor list's last rows come with a `next`, and that cursor gives one empty page.
    trailing_empty_page: bool = False
    # live: the lists documented as unpaged page anyway (sender identities were paged before the
    # docs said so; broadcast actions are): `next` after this many rows, sent back as `start`.
    unpaged_page_size: int | None = None
    # live (a peer's live requests, Sep 2026: `{"collections": null}`): an empty list comes as
    # JSON null, not [] (the spec says array); which list does it is the serializer's accident.
    empty_list_as_null: bool = False
    # live (estuary/connectors, "Messages / page walk continued"): `/v1/messages` given a start
    # cursor that is out of range (or not one it handed out) starts the walk over from the
    # newest row; docs: such a cursor is a 400, as on the other lists.
    messages_restart_on_bad_start: bool = False

    def __post_init__(self) -> None:
        if self.hidden_senders not in ("docs", "live"):
            raise ValueError(
                f"hidden_senders must be 'docs' or 'live', not {self.hidden_senders!r}"
            )
        if self.unpaged_page_size is not None and self.unpaged_page_size < 1:
            raise ValueError("unpaged_page_size must be >= 1, or None for one page")

    @classmethod
    def live(cls) -> Behaviour:
        """Every switch on its live reading."""
        return cls(
            hidden_senders="live", trailing_empty_page=True, unpaged_page_size=10,
            empty_list_as_null=True, messages_restart_on_bad_start=True,
        )


DOCS = Behaviour()
LIVE = Behaviour.live()
