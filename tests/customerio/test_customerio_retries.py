"""Retry policy units: Retry-After parsing, full-jitter backoff bounds, what is retryable."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cio_warehouse.customerio.retries import (
    RetryPolicy,
    is_retryable_exception,
    is_retryable_status,
    parse_retry_after,
)

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


class MaxRandom(random.Random):
    """Always draws the top of the range, to check the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("120", 120.0),
        (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(header: str, expected: float) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "header", [None, "", "soon", "-3", "1.5", "Wed, 01 May 2024 12:00:30", "Wed, 99 Foo", "١٢"]
)
def test_garbage_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    ceilings = [policy.backoff(n, MaxRandom()) for n in range(1, 10)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert policy.backoff(10_000, MaxRandom()) == 30.0


def test_backoff_is_full_jitter() -> None:
    policy = RetryPolicy()
    draws = [policy.backoff(4, random.Random(seed)) for seed in range(200)]
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert min(draws) < 1.0 < 3.0 < max(draws)


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=60.0, retry_after_jitter=1.0)
    assert policy.delay(1, 7.0, MaxRandom()) == 8.0  # 7 s, then the top of 1 s of jitter
    assert policy.delay(1, 3600.0, MaxRandom()) == 61.0
    assert policy.delay(3, None, MaxRandom()) == 2.0


def test_policy_refuses_zero_attempts() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 520, 599])
def test_transient_statuses_are_retried_for_get(status: int) -> None:
    assert is_retryable_status(status, "GET")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 200, 301])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status, "GET")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_writes_retry_only_429_and_unsent_requests(method: str) -> None:
    request = httpx.Request(method, "https://api.customer.io/v1/reporting_webhooks")
    assert is_retryable_status(429, method)
    assert not is_retryable_status(500, method)
    assert not is_retryable_status(503, method)
    assert is_retryable_exception(httpx.ConnectError("refused", request=request), method)
    assert is_retryable_exception(httpx.ConnectTimeout("slow", request=request), method)
    assert not is_retryable_exception(httpx.ReadTimeout("slow", request=request), method)
    assert not is_retryable_exception(httpx.RemoteProtocolError("cut", request=request), method)
    assert not is_retryable_exception(httpx.ReadError("reset", request=request), method)


def test_get_retries_every_transport_failure_but_local_bugs() -> None:
    request = httpx.Request("GET", "https://api.customer.io/v1/segments")
    for exc in (
        httpx.ConnectError("refused", request=request),
        httpx.ConnectTimeout("slow", request=request),
        httpx.ReadTimeout("slow", request=request),
        httpx.WriteTimeout("slow", request=request),
        httpx.ReadError("reset", request=request),
        httpx.RemoteProtocolError("cut", request=request),
    ):
        assert is_retryable_exception(exc, "GET"), exc
    assert not is_retryable_exception(httpx.UnsupportedProtocol("x", request=request), "GET")
    assert not is_retryable_exception(httpx.LocalProtocolError("x", request=request), "GET")
    assert not is_retryable_exception(ValueError("x"), "GET")


def test_retry_after_is_jittered_upwards_only() -> None:
    policy = RetryPolicy(retry_after_jitter=1.0)
    draws = [policy.delay(1, 1.0, random.Random(seed)) for seed in range(200)]
    assert all(1.0 <= d <= 2.0 for d in draws)
    assert min(draws) < 1.2 and max(draws) > 1.8
