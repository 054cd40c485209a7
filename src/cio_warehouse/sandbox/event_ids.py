"""Identifiers inside events: ULID-like event ids and Customer.io-looking delivery ids."""

from __future__ import annotations

import base64

from cio_warehouse.sandbox.rng import RowRandom

# Crockford's base32 (no I, L, O, U), as ULIDs and the spec's example "01E4C4CT6YDC7Y5M7FE1GWWPQJ".
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_BITS = 48
_RANDOM_BITS = 80


def ulid(at_ms: int, r: RowRandom) -> str:
    """26 characters: 48 bits of milliseconds then 80 random bits, so ids sort by time.

    customerio-api.md: `event_id` is a unique, ULID-like string and the receiver's dedup key.
    """
    value = ((at_ms & ((1 << _TIME_BITS) - 1)) << _RANDOM_BITS) | int(r.hex(20), 16)
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def delivery_id(r: RowRandom) -> str:
    """28 URL-safe base64 characters, like the spec's "RPILAgUBcRhIBqSfeiIwdIYJKxTY"."""
    return base64.urlsafe_b64encode(bytes.fromhex(r.hex(42))).decode()
