"""A seeded byte mutator: cheap variants of valid bodies and header values, for volume."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

# Byte sequences that are not UTF-8: a lone continuation byte, an overlong encoding, a UTF-16
# surrogate (ED A0 80), a code point above U+10FFFF, a truncated 3-byte sequence, and NUL.
BAD_UTF8 = (b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x00",
            b"\xff\xfe", b"\xc3\x28")
JSON_SPICE = (b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":", b"null", b"1e999", b"-0",
              b"NaN", b"Infinity", b"\\ud800", b"\\u0000", b"99999999999999999999999999")


def nest_bomb(rng: random.Random) -> bytes:
    """Deep nesting: what overflows a recursive parser's stack."""
    depth = rng.choice((1_000, 5_000, 50_000, 150_000))  # at most 0.9 MB: under the 1 MiB cap
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    return opener * depth + b"1" + closer * depth


def huge_string(rng: random.Random, limit: int) -> bytes:
    return b'{"event_id": "' + b"x" * rng.randrange(limit // 2, limit) + b'"}'


def _flip(rng: random.Random, data: bytearray) -> None:
    if data:
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)


def _insert(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data) + 1)
    data[i:i] = rng.choice(BAD_UTF8 + JSON_SPICE)


def _delete(rng: random.Random, data: bytearray) -> None:
    if data:
        i = rng.randrange(len(data))
        del data[i : i + rng.randrange(1, 16)]


def _truncate(rng: random.Random, data: bytearray) -> None:
    if data:
        del data[rng.randrange(len(data)) :]


def _duplicate(rng: random.Random, data: bytearray) -> None:
    if data:
        i = rng.randrange(len(data))
        j = min(len(data), i + rng.randrange(1, 64))
        data[j:j] = data[i:j] * rng.randrange(1, 8)


def _random_bytes(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data) + 1)
    data[i:i] = rng.randbytes(rng.randrange(1, 32))


_MUTATIONS: Sequence[Callable[[random.Random, bytearray], None]] = (
    _flip, _insert, _delete, _truncate, _duplicate, _random_bytes,
)


def mutate(rng: random.Random, data: bytes, rounds: int | None = None) -> bytes:
    """`data` changed by one to four random edits (never returned unchanged)."""
    out = bytearray(data)
    for _ in range(rounds or rng.randrange(1, 5)):
        rng.choice(_MUTATIONS)(rng, out)
    if bytes(out) == data:
        out += rng.choice(BAD_UTF8)
    return bytes(out)


def header_value(rng: random.Random) -> bytes:
    """A header value a server must survive: empty, huge, binary, control characters."""
    choice = rng.randrange(8)
    if choice == 0:
        return b""
    if choice == 1:
        return b"a" * rng.choice((1_000, 8_000, 60_000))
    if choice == 2:
        return rng.choice(BAD_UTF8) * rng.randrange(1, 10)
    if choice == 3:
        return bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 40)))
    if choice == 4:
        return b"\x01\x02\x7f"
    if choice == 5:
        return b"bytes=0-, =;\\\"'<script>"
    if choice == 6:
        return str(rng.getrandbits(200)).encode()
    return rng.randbytes(rng.randrange(1, 40)).replace(b"\r", b"").replace(b"\n", b"")
