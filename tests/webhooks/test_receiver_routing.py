"""The receiver app's own match of the webhook route agrees with Starlette's Route on any path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from cio_warehouse.webhooks.receiver import WEBHOOK_PATH, ReceiverApp

pytestmark = pytest.mark.timeout(60)


class _Stub:
    """Stands for the Receiver: records the scopes it was handed."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        yield


def _route_decision(path: str, method: str) -> dict[str, Any] | None:
    """What Starlette's Route would hand the receiver: its path params, or None."""
    match, child = Route(WEBHOOK_PATH, _Stub(), methods=["POST"]).matches(
        {"type": "http", "method": method, "path": path, "root_path": ""}
    )
    return dict(child["path_params"]) if match is Match.FULL else None


def _app_decision(path: str, method: str, root_path: str = "") -> dict[str, Any] | None:
    stub = _Stub()
    app = ReceiverApp(stub)  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": root_path + path,
             "root_path": root_path, "headers": [], "query_string": b""}
    anyio.run(app, scope, receive, send)
    if stub.scopes:
        assert not sent
        return dict(stub.scopes[0]["path_params"])
    assert sent[0]["status"] in (404, 405)
    return None


PATHS = [
    "/webhooks/customerio/acme", "/webhooks/customerio/", "/webhooks/customerio",
    "/webhooks/customerio/acme/", "/webhooks/customerio/acme/extra", "/webhooks/customerio//x",
    "/webhooks/customerio/a b", "/webhooks/customerio/ümlaut", "/webhooks/customerio/acme\n",
    "/webhooks/customerio/%2F", "/webhooks/customeriox/acme", "//webhooks/customerio/acme",
    "/", "/docs", "",
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "post"])
def test_the_app_routes_as_starlettes_route(path: str, method: str) -> None:
    assert _app_decision(path, method) == _route_decision(path, method)


@given(st.text(alphabet="/abc%-\n ", max_size=12))
def test_any_suffix_routes_as_starlettes_route(suffix: str) -> None:
    path = "/webhooks/customerio/" + suffix
    assert _app_decision(path, "POST") == _route_decision(path, "POST")


def test_behind_a_root_path_starlettes_router_matches() -> None:
    assert _app_decision("/webhooks/customerio/acme", "POST", root_path="/hooks") == {
        "source": "acme"
    }
