"""Opaque `next`/`start` cursors for the cursor-paged tables (newsletters, sender_identities)."""

from __future__ import annotations

import base64
import binascii

from cio_warehouse.sandbox.rng import stable_key


class CursorError(ValueError):
    """A `start` value this sandbox did not hand out: the API answers 400."""


def _check(seed: int, table: str, index: int) -> str:
    return f"{stable_key('cio-sandbox-cursor', seed, table, index):016x}"[:8]


def encode(seed: int, table: str, index: int) -> str:
    """The cursor for "continue at row `index`".

    Customer.io documents `next` only as a string to send back as `start`; it is opaque, so the
    sandbox makes it look like nothing a client could compute (not a page number, not an id).
    """
    raw = f"{table}:{index}:{_check(seed, table, index)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(seed: int, table: str, cursor: str) -> int:
    """The row index a cursor points at; CursorError if it is malformed or from elsewhere."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, index_text, check = raw.split(":")
        index = int(index_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError("malformed cursor") from exc
    if name != table or index < 0 or check != _check(seed, table, index):
        raise CursorError("cursor does not belong to this list")
    return index
