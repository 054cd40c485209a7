"""Reporting-webhook signatures: HMAC-SHA256 of `v0:<timestamp>:<raw body>`, in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cio_warehouse.secret import Secret

# The spec's X-CIO-Timestamp is the time the request was sent (every retry carries a fresh one),
# so a window this wide (PostHog's) rejects replays without rejecting honest clock skew.
DEFAULT_WINDOW_SECONDS = 300.0

# Unix seconds fit in 11 digits until the year 5138; the cap keeps int() cheap on hostile input.
_MAX_TIMESTAMP_DIGITS = 15
# Lowercase only, as the spec defines the header: one reading of a signature, so that any
# changed byte fails.
_SIGNATURE = re.compile(f"[0-9a-f]{{{hashlib.sha256().digest_size * 2}}}")


class Reason(StrEnum):
    """Why a delivery failed verification; also the suffix of its `rejected:<reason>` counter."""

    MISSING_SIGNATURE = "missing_signature"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"  # not an unsigned integer
    STALE_TIMESTAMP = "stale_timestamp"  # signed correctly, but outside the replay window
    BAD_SIGNATURE = "bad_signature"  # no configured key produced this signature


@dataclass(frozen=True)
class Verdict:
    """ok, or the reason; `key_index` says which key matched (0 current, 1 previous)."""

    reason: Reason | None = None
    key_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def __bool__(self) -> bool:
        return self.ok


# A verdict per outcome, built once: verify() runs for every delivery.
_VERDICTS = {reason: Verdict(reason) for reason in Reason}
_MATCHED = (Verdict(key_index=0), Verdict(key_index=1))


def sign(key: Secret, timestamp: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of `v0:` + timestamp + `:` + body, as Customer.io computes it."""
    # The spec: "the version number is always v0"; the key is the signing key's text as shown in
    # Customer.io's Reporting Webhooks page.
    return _digest(key, timestamp, body).hex()


def _digest(key: Secret, timestamp: str, body: bytes) -> bytes:
    # Not hmac.digest(): on 3.11 its one-shot HMAC releases the GIL whatever the length, so the
    # receiver's event loop handed the GIL to its inbox writer thread on every delivery and
    # waited to get it back (HMAC objects keep it below 2 KiB).
    message = b"v0:" + timestamp.encode("utf-8") + b":" + body
    return hmac.new(key.reveal().encode("utf-8"), message, hashlib.sha256).digest()


def verify(
    keys: Sequence[Secret],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> Verdict:
    """Check a delivery against the current and the previous key; never raises on any header.

    The signature is checked before the timestamp's age so that a wrong key is reported as a
    wrong key even when the clock is off too: the two need different fixes.
    """
    if not signature_header:
        return _VERDICTS[Reason.MISSING_SIGNATURE]
    if not timestamp_header:
        return _VERDICTS[Reason.MISSING_TIMESTAMP]
    timestamp = timestamp_header.strip(" \t")
    # ASCII digits only: int() would also take "+1", "1_0", " 1" and non-ASCII digits, none of
    # which Customer.io sends (unix seconds), and the HMAC must run over the exact header text.
    if not (0 < len(timestamp) <= _MAX_TIMESTAMP_DIGITS and timestamp.isascii()
            and timestamp.isdigit()):
        return _VERDICTS[Reason.BAD_TIMESTAMP]
    provided = _signature_bytes(signature_header)
    matched: int | None = None
    for index, key in enumerate(keys):
        expected = _digest(key, timestamp, body)
        # Every key is compared (no early exit) so the time taken does not say which one matched.
        if hmac.compare_digest(expected, provided) and matched is None:
            matched = index
    if matched is None:
        return _VERDICTS[Reason.BAD_SIGNATURE]
    if abs(now - int(timestamp)) > window_seconds:
        return Verdict(Reason.STALE_TIMESTAMP, key_index=matched)
    return _MATCHED[matched] if matched < len(_MATCHED) else Verdict(key_index=matched)


def _signature_bytes(header: str) -> bytes:
    """The header's 32 bytes for compare_digest; anything but 64 lowercase hex digits is b"".

    compare_digest raises TypeError on non-ASCII str, so headers are checked here and never
    compared as text.
    """
    candidate = header.strip(" \t")
    if _SIGNATURE.fullmatch(candidate) is None:
        return b""
    return bytes.fromhex(candidate)
