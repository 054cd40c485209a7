"""The X-CIO-Signature of a delivery: HMAC-SHA256 over `v0:<timestamp>:<raw body>`."""

from __future__ import annotations

import hashlib
import hmac


def signature(signing_key: str, timestamp: int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 keyed with the webhook's signing key (spec `info.description`:
    "Combine the version number, timestamp and body delimited by colons ... `v0:<timestamp>:<body>`
    ... hash the string using your webhook signing secret as the hash key")."""
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def wrong_key(signing_key: str) -> str:
    """A key of the same shape that is not this webhook's: for the bad-signature knob."""
    return hashlib.sha256(b"not-" + signing_key.encode()).hexdigest()
