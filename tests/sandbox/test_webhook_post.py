"""One POST and its verdict (on httpx's MockTransport), the retry schedule, the signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable

import httpx
import pytest

from cio_warehouse.sandbox.retry_policy import HOUR_STATUSES, RetryPolicy
from cio_warehouse.sandbox.signing import signature, wrong_key
from cio_warehouse.sandbox.webhook_post import PostResult, headers_for, post_once

Handler = Callable[[httpx.Request], httpx.Response]


def post(handler: Handler, timeout_s: float = 1.0) -> PostResult:
    async def run() -> PostResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await post_once(client, "http://receiver.test/hook", b"{}", {}, timeout_s, 1)
    return asyncio.run(run())


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_counts(status: int) -> None:
    result = post(lambda request: httpx.Response(status))
    assert (result.ok, result.status, result.error) == (True, status, None)
    assert not result.hour_class


@pytest.mark.parametrize("status", sorted(HOUR_STATUSES))
def test_statuses_that_wait_an_hour(status: int) -> None:
    result = post(lambda request: httpx.Response(status))
    assert not result.ok and result.hour_class


@pytest.mark.parametrize("status", [301, 304, 408, 409, 501, 503, 504])
def test_other_failures_back_off_normally(status: int) -> None:
    result = post(lambda request: httpx.Response(status))
    assert not result.ok and not result.hour_class


@pytest.mark.parametrize(("exc", "hour_class", "prefix"), [
    (httpx.ConnectError("[Errno 111] Connection refused"), True, "connect"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), True, "EOF"),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), True, "connection reset"),
    (httpx.ReadTimeout("timed out"), False, "timeout"),
])
def test_connection_failures(exc: Exception, hour_class: bool, prefix: str) -> None:
    result = post(raising(exc))
    assert result.status is None and not result.ok and result.hour_class == hour_class
    assert result.error is not None and result.error.startswith(prefix)


def test_a_late_2xx_is_a_timeout() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return httpx.Response(200)

    async def run() -> PostResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
            return await post_once(client, "http://receiver.test/hook", b"{}", {}, 0.05, 1)

    result = asyncio.run(run())
    assert not result.ok and result.error is not None and result.error.startswith("timeout")


def test_retry_schedule() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n, hour_class=True) for n in (1, 2, 3)] == [3_600, 7_200, 14_400]
    assert [policy.delay(n, hour_class=False) for n in (1, 2, 3)] == [60, 120, 240]
    assert policy.delay(30, hour_class=True) == policy.max_delay_s
    assert RetryPolicy(time_scale=0.001).real(3_600) == pytest.approx(3.6)
    with pytest.raises(ValueError):
        RetryPolicy(time_scale=0)


def test_signature_and_headers() -> None:
    key, body = "a" * 64, b'{"event_id":"01E4C4CT6YDC7Y5M7FE1GWWPQJ"}'
    expected = hmac.new(key.encode(), b"v0:1613063089:" + body, hashlib.sha256).hexdigest()
    assert signature(key, 1613063089, body) == expected
    headers = headers_for(body, key, 1613063089)
    assert headers["X-CIO-Signature"] == expected and headers["X-CIO-Timestamp"] == "1613063089"
    assert headers["Content-Type"] == "application/json"
    forged = headers_for(body, key, 1613063089, forged=True)["X-CIO-Signature"]
    assert forged == signature(wrong_key(key), 1613063089, body) != expected
    assert "X-CIO-Signature" not in headers_for(body, key, 1, signed=False)
