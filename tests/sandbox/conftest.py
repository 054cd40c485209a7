"""Sandbox test fixtures: a running sandbox with the rate limit off, and a client for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace

KEY = "sandbox-test-key"
EXAMPLES = Path(__file__).with_name("cio_examples")


def example(name: str) -> dict[str, Any]:
    """A response example Customer.io publishes (copied from /work/shared/cio-examples/app-api)."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def client_for(sb: SandboxServer, key: str = KEY, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(
        base_url=sb.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )


def read_all(
    client: httpx.Client, path: str, list_key: str, limit: int = 100, **params: str
) -> tuple[list[dict[str, Any]], int]:
    """Follow `next` until it is missing, null or empty; the rows and the number of requests."""
    rows: list[dict[str, Any]] = []
    start: str | None = None
    requests = 0
    seen: set[str] = set()
    while True:
        query: dict[str, Any] = {"limit": limit, **params}
        if start:
            query["start"] = start
        response = client.get(path, params=query)
        requests += 1
        response.raise_for_status()
        body = response.json()
        rows.extend(body[list_key] or [])  # live, an empty list can be null
        start = body.get("next")
        if not start:
            return rows, requests
        assert start not in seen, "the sandbox repeated a cursor without a fault"
        seen.add(start)


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxServer]:
    """The small preset, rate limit off, so tests can send as fast as they like."""
    with SandboxServer(Workspace.preset("small", seed=11), api_key=KEY, rate_limit_rps=None) as s:
        yield s


@pytest.fixture
def client(sb: SandboxServer) -> Iterator[httpx.Client]:
    sb.clear_faults()
    with client_for(sb) as c:
        yield c
    sb.clear_faults()
