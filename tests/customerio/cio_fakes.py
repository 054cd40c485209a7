"""Builders for the App API client tests: a scripted MockTransport, a fake clock, a client."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cio_warehouse.customerio import AppAPIClient, ClientSettings, RateLimiter
from cio_warehouse.secret import Secret

# A recognisable key: any test can assert that it never leaks into a message.
KEY_TEXT = "cio-app-key-3f9a7c1e5b2d4f60"
KEY = Secret(KEY_TEXT)

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def json_response(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    """A JSON answer, as the App API sends for every list and object call."""
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


@dataclass
class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """A MockTransport handler that answers with `steps` in order and fails past their end.

    Running past the end is the "guard page": a client that asks for more than the script holds
    (a paginator that does not stop, a retry that should not happen) fails the test loudly.
    """

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) > len(self.steps):
            pytest.fail(f"unexpected request #{len(self.requests)}: {request.method} {request.url}")
        step = self.steps[len(self.requests) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    @property
    def params(self) -> list[dict[str, str]]:
        return [dict(request.url.params) for request in self.requests]


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    clock: FakeClock | None = None,
    settings: ClientSettings | None = None,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> AppAPIClient:
    """A client on a MockTransport with pacing off and a fake clock, so tests never sleep."""
    clock = clock or FakeClock()
    return AppAPIClient(
        KEY,
        settings=settings or ClientSettings(max_rps=None),
        limiter=limiter,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
        **kwargs,
    )
