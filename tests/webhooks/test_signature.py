"""signature.py: sign/verify against an independent HMAC, every reason, Hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_warehouse.secret import Secret
from cio_warehouse.webhooks.signature import Reason, sign, verify
from tests.webhooks.conftest import KEY, cio_signature, event_body

NOW = 1_700_000_000
TS = str(NOW)
BODY = event_body("01E4C4CT6YDC7Y5M7FE1GWWPQJ")
CURRENT, PREVIOUS, OTHER = Secret(KEY), Secret("previous-key"), Secret("someone-elses-key")

keys_st = st.text(min_size=1, max_size=80).filter(lambda k: bool(k.strip())).map(Secret)
timestamps_st = st.integers(min_value=0, max_value=10**11)
bodies_st = st.binary(max_size=2048)


def test_sign_is_lowercase_hex_hmac_sha256_of_v0_timestamp_body() -> None:
    signature = sign(CURRENT, TS, BODY)
    assert signature == cio_signature(KEY, TS, BODY)
    assert len(signature) == 64 and signature == signature.lower()


def test_current_and_previous_keys_verify_and_say_which_matched() -> None:
    keys = [CURRENT, PREVIOUS]
    current = verify(keys, TS, cio_signature(KEY, TS, BODY), BODY, now=NOW)
    previous = verify(keys, TS, sign(PREVIOUS, TS, BODY), BODY, now=NOW)
    assert current.ok and current.key_index == 0
    assert previous.ok and previous.key_index == 1
    assert verify(keys, TS, sign(OTHER, TS, BODY), BODY, now=NOW).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        (TS, None, Reason.MISSING_SIGNATURE),
        (TS, "", Reason.MISSING_SIGNATURE),
        (None, "ab" * 32, Reason.MISSING_TIMESTAMP),
        ("", "ab" * 32, Reason.MISSING_TIMESTAMP),
        ("17e8", "ab" * 32, Reason.BAD_TIMESTAMP),
        ("1700000000.5", "ab" * 32, Reason.BAD_TIMESTAMP),
        ("-1700000000", "ab" * 32, Reason.BAD_TIMESTAMP),
        ("+1700000000", "ab" * 32, Reason.BAD_TIMESTAMP),
        ("1_700_000_000", "ab" * 32, Reason.BAD_TIMESTAMP),
        ("١٧٠٠٠٠٠٠٠٠", "ab" * 32, Reason.BAD_TIMESTAMP),  # Arabic-Indic digits: int() takes them
        ("9" * 5000, "ab" * 32, Reason.BAD_TIMESTAMP),  # int() would raise on this many digits
        (TS, "ab" * 32, Reason.BAD_SIGNATURE),
        (TS, "zz" * 32, Reason.BAD_SIGNATURE),
        (TS, "ab", Reason.BAD_SIGNATURE),
        (TS, "é" * 64, Reason.BAD_SIGNATURE),  # compare_digest raises TypeError on non-ASCII str
        (TS, "\x00" * 64, Reason.BAD_SIGNATURE),
        (TS, cio_signature(KEY, TS, BODY).upper(), Reason.BAD_SIGNATURE),  # the spec: lowercase
        (TS, "v0=" + cio_signature(KEY, TS, BODY), Reason.BAD_SIGNATURE),
    ],
)
def test_each_reason(timestamp: str | None, signature: str | None, reason: Reason) -> None:
    verdict = verify([CURRENT], timestamp, signature, BODY, now=NOW)
    assert not verdict.ok and verdict.reason is reason


@pytest.mark.parametrize("skew", [-301, 301, -10_000, 10**9])
def test_a_correct_signature_outside_the_window_is_stale(skew: int) -> None:
    ts = str(NOW + skew)
    verdict = verify([CURRENT], ts, cio_signature(KEY, ts, BODY), BODY, now=NOW)
    assert verdict.reason is Reason.STALE_TIMESTAMP


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_the_window_is_inclusive(skew: int) -> None:
    ts = str(NOW + skew)
    assert verify([CURRENT], ts, cio_signature(KEY, ts, BODY), BODY, now=NOW).ok


def test_the_window_is_configurable() -> None:
    ts = str(NOW - 30)
    signature = cio_signature(KEY, ts, BODY)
    assert verify([CURRENT], ts, signature, BODY, now=NOW, window_seconds=60).ok
    verdict = verify([CURRENT], ts, signature, BODY, now=NOW, window_seconds=10)
    assert verdict.reason is Reason.STALE_TIMESTAMP


def test_no_keys_verifies_nothing() -> None:
    verdict = verify([], TS, cio_signature(KEY, TS, BODY), BODY, now=NOW)
    assert verdict.reason is Reason.BAD_SIGNATURE


def test_the_raw_bytes_are_signed_not_a_reserialisation() -> None:
    spaced = BODY.replace(b'":', b'": ')  # the same JSON value, different bytes
    verdict = verify([CURRENT], TS, cio_signature(KEY, TS, BODY), spaced, now=NOW)
    assert verdict.reason is Reason.BAD_SIGNATURE


@settings(max_examples=200, deadline=None)
@given(key=keys_st, previous=keys_st, ts=timestamps_st, body=bodies_st)
def test_round_trip(key: Secret, previous: Secret, ts: int, body: bytes) -> None:
    stamp = str(ts)
    assert verify([key, previous], stamp, sign(key, stamp, body), body, now=ts).ok
    assert verify([previous, key], stamp, sign(key, stamp, body), body, now=ts).ok


@settings(max_examples=200, deadline=None)
@given(key=keys_st, ts=timestamps_st, body=bodies_st.filter(bool), data=st.data())
def test_any_changed_body_byte_fails(
    key: Secret, ts: int, body: bytes, data: st.DataObject
) -> None:
    stamp = str(ts)
    signature = sign(key, stamp, body)
    index = data.draw(st.integers(0, len(body) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    changed = body[:index] + bytes([byte]) + body[index + 1:]
    assert verify([key], stamp, signature, changed, now=ts).reason is Reason.BAD_SIGNATURE


@settings(max_examples=200, deadline=None)
@given(key=keys_st, ts=timestamps_st, body=bodies_st, data=st.data())
def test_any_changed_timestamp_byte_fails(
    key: Secret, ts: int, body: bytes, data: st.DataObject
) -> None:
    stamp = str(ts)
    signature = sign(key, stamp, body)
    index = data.draw(st.integers(0, len(stamp) - 1))
    char = data.draw(st.characters(codec="latin-1").filter(lambda c: c != stamp[index]))
    changed = stamp[:index] + char + stamp[index + 1:]
    verdict = verify([key], changed, signature, body, now=ts)
    assert not verdict.ok
    assert verdict.reason in (Reason.BAD_SIGNATURE, Reason.BAD_TIMESTAMP)


@settings(max_examples=200, deadline=None)
@given(key=keys_st, ts=timestamps_st, body=bodies_st, data=st.data())
def test_any_changed_signature_byte_fails(
    key: Secret, ts: int, body: bytes, data: st.DataObject
) -> None:
    stamp = str(ts)
    signature = sign(key, stamp, body)
    index = data.draw(st.integers(0, len(signature) - 1))
    char = data.draw(st.characters(codec="latin-1").filter(lambda c: c != signature[index]))
    changed = signature[:index] + char + signature[index + 1:]
    assert verify([key], stamp, changed, body, now=ts).reason is Reason.BAD_SIGNATURE


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timestamp=st.one_of(st.none(), st.text(max_size=40)),
    signature=st.one_of(st.none(), st.text(max_size=100)),
    body=bodies_st,
    now=st.floats(allow_nan=False, allow_infinity=False),
)
def test_arbitrary_headers_never_raise(
    timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    verdict = verify([CURRENT, PREVIOUS], timestamp, signature, body, now=now)
    assert not verdict.ok  # a random string is not the HMAC (2**-256)

