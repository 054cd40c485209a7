"""One signed POST of one event to one webhook endpoint, and how Customer.io would judge it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from cio_warehouse.sandbox.retry_policy import HOUR_STATUSES
from cio_warehouse.sandbox.signing import signature, wrong_key

USER_AGENT = "Customer.io Reporting Webhooks (cio-warehouse sandbox)"


@dataclass(frozen=True)
class PostResult:
    status: int | None
    error: str | None
    ok: bool  # a 2xx within the timeout
    hour_class: bool  # a failure after which Customer.io first waits an hour
    latency_s: float
    sent_at: float  # wall clock
    timestamp: int  # the X-CIO-Timestamp sent


def headers_for(
    body: bytes, signing_key: str, timestamp: int, *, signed: bool = True, forged: bool = False,
) -> dict[str, str]:
    """JSON content type, X-CIO-Timestamp and X-CIO-Signature (the spec's two header params)."""
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "X-CIO-Timestamp": str(timestamp),
    }
    if signed:
        key = wrong_key(signing_key) if forged else signing_key
        headers["X-CIO-Signature"] = signature(key, timestamp, body)
    return headers


async def post_once(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout_s: float,
    timestamp: int,
) -> PostResult:
    """POST and classify: "only a 2xx within 4 seconds counts"; after the listed statuses, EOF,
    a refused or reset connection (and other connection failures such as DNS or TLS errors)
    Customer.io "will wait for one hour before we retry" (spec `info.description`)."""
    sent_at, started = time.time(), time.monotonic()
    status: int | None = None
    error: str | None = None
    hour_class = False
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(url, content=body, headers=headers,
                                         timeout=timeout_s + 1.0)
        status = response.status_code
        hour_class = status in HOUR_STATUSES
    except (TimeoutError, httpx.TimeoutException):
        error = f"timeout: no response within {timeout_s:g} s"
    except httpx.ConnectError as exc:
        error, hour_class = f"connect: {_reason(exc)}", True
    except httpx.RemoteProtocolError as exc:
        error, hour_class = f"EOF: {_reason(exc)}", True
    except (httpx.ReadError, httpx.WriteError) as exc:
        error, hour_class = f"connection reset: {_reason(exc)}", True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {_reason(exc)}"
    latency = time.monotonic() - started
    ok = status is not None and 200 <= status < 300
    return PostResult(status, error, ok, hour_class and not ok, latency, sent_at, timestamp)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
