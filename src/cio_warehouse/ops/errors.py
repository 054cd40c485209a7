"""A use case's refusal: one sentence, the input at fault, and what kind of refusal it is."""

from __future__ import annotations

from enum import StrEnum

from cio_warehouse.state import StateError


class Refusal(StrEnum):
    INVALID = "invalid"  # the caller can fix the input
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # in conflict with the current state
    UNAVAILABLE = "unavailable"  # a warehouse that cannot be reached


class OpsError(StateError):
    """A StateError (the CLI prints its sentence) that also names the input at fault, so that
    the web app can put the message beside the field and answer with the right status."""

    def __init__(self, message: str, field: str | None = None,
                 kind: Refusal = Refusal.INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.kind = kind


def sentence(exc: Exception) -> str:
    """A lower-case library message as a sentence: "unknown region 'x'" -> "Unknown ... 'x'."."""
    text = str(exc)
    return f"{text[:1].upper()}{text[1:]}."
