"""What stands before every App API route: the log, auth, the rate limit, scopes and fault knobs."""

from __future__ import annotations

import hmac
import logging
import time
from contextvars import ContextVar
from email.utils import formatdate
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cio_warehouse.sandbox.api import FAULT_SCOPE_KEY
from cio_warehouse.sandbox.control import PREFIX as CONTROL_PREFIX
from cio_warehouse.sandbox.fault_board import NO_FAULT
from cio_warehouse.sandbox.faults import (
    FailAlways,
    Fault,
    RateLimited,
    RepeatCursor,
    ServerError,
    Slow,
    TruncatedBody,
)
from cio_warehouse.sandbox.history import MESSAGES_PATH
from cio_warehouse.sandbox.request_log import LoggedRequest
from cio_warehouse.sandbox.responses import error_response, server_error_response
from cio_warehouse.sandbox.state import SandboxState
from cio_warehouse.sandbox.tables import TABLES

# Every list: the live reading pages the documented-unpaged ones too (behaviour.py).
_PAGED_PATHS = frozenset([*(spec.path for spec in TABLES.values()), MESSAGES_PATH])
_DROPPED_ON_PURPOSE: ContextVar[bool] = ContextVar("cio_sandbox_dropped", default=False)
_UVICORN_INCOMPLETE = "ASGI callable returned without completing response."


class _QuietDeliberateDrops(logging.Filter):
    """uvicorn logs an error when an app leaves a response unfinished; the truncated_body knob
    (mode=connection) does so on purpose, so only that request's message is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DROPPED_ON_PURPOSE.get() and record.msg == _UVICORN_INCOMPLETE)


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _QuietDeliberateDrops) for existing in logger.filters):
        logger.addFilter(_QuietDeliberateDrops())


class Gate:
    """Pure ASGI (not BaseHTTPMiddleware) so it can cut a body or drop a connection mid-response."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        self._expected = f"Bearer {state.api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        arrived, arrived_wall = time.monotonic(), time.time()
        status = 0

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, noting_status, arrived)
        finally:
            self.state.log.add(LoggedRequest(
                arrived, arrived_wall, scope["method"], scope["path"],
                scope["query_string"].decode("latin-1"), status,
            ))

    async def _handle(self, scope: Scope, receive: Receive, send: Send, arrived: float) -> None:
        state = self.state
        path: str = scope["path"]
        seed = state.workspace.seed
        early: Response | None = None
        decision = NO_FAULT
        if not self._authorized(scope):
            # 401: a bad key, a Track API key or the other region's key (customerio-api.md).
            early = error_response(401, "Unauthorized request: check your App API key and region",
                                   seed=seed, path=path)
        elif not state.limiter.admit(arrived):
            # Counted per workspace over every authenticated request. Customer.io documents no
            # Retry-After but sends one (docs/customerio-behaviour.md); the switch drops it.
            headers = (
                {"Retry-After": str(state.limiter.retry_after(arrived))}
                if state.rate_limit_retry_after else None
            )
            early = error_response(429, "Too many requests", seed=seed, path=path,
                                   headers=headers)
        elif state.is_forbidden(path):
            early = error_response(
                403, "Forbidden: this key's scope does not include this endpoint",
                seed=seed, path=path,
            )
        else:
            decision = state.faults.decide(path, self._has_cursor(scope))
        delay_ms = state.latency_ms + decision.latency_ms
        if delay_ms > 0:
            await state.sleep(delay_ms / 1000)
        fault = decision.fault
        if early is None and fault is not None:
            early = await self._early_fault(fault, path)
        if early is not None:
            await early(scope, receive, send)
        elif isinstance(fault, TruncatedBody):
            await self._truncated(scope, receive, send, connection=fault.mode == "connection")
        elif isinstance(fault, RepeatCursor):
            await self.app({**scope, FAULT_SCOPE_KEY: fault}, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _early_fault(self, fault: Fault, path: str) -> Response | None:
        if isinstance(fault, RateLimited):
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = (
                    formatdate(time.time() + fault.retry_after, usegmt=True)
                    if fault.retry_after_format == "http_date"
                    else f"{fault.retry_after:g}"
                )
            return error_response(429, "Too many requests", seed=self.state.workspace.seed,
                                  path=path, headers=headers)
        if isinstance(fault, ServerError | FailAlways):
            return server_error_response(fault.status)
        if isinstance(fault, Slow) and not await self.state.sleep(fault.seconds):
            return server_error_response(503)  # the server is stopping: answer at once
        return None

    async def _truncated(
        self, scope: Scope, receive: Receive, send: Send, connection: bool,
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = b"".join(chunks)
        if start["status"] != 200 or len(body) < 2:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        # Any strict prefix of a JSON object is invalid JSON: half of it is cut "mid-JSON".
        cut = body[: len(body) // 2]
        declared = len(body) if connection else len(cut)
        headers = [(name, value) for name, value in start["headers"] if name != b"content-length"]
        headers.append((b"content-length", str(declared).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if connection:
            # Leave the response unfinished: uvicorn then closes the socket short of the
            # declared Content-Length, as a proxy dropping the connection would.
            await send({"type": "http.response.body", "body": cut, "more_body": True})
            _DROPPED_ON_PURPOSE.set(True)
            return
        await send({"type": "http.response.body", "body": cut})

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False

    @staticmethod
    def _has_cursor(scope: Scope) -> bool:
        if scope["path"] not in _PAGED_PATHS:
            return False
        query = scope["query_string"].decode("latin-1")
        return any(name == "start" and value for name, value in parse_qsl(query))
