"""The receiver app: one POST route that verifies, group-commits to the inbox, then acks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.group_commit import (
    DEFAULT_BUSY_TIMEOUT_SECONDS,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_WAIT_SECONDS,
    CommitError,
    GroupCommitter,
)
from cio_warehouse.webhooks.inbox import Kind, Result, Submission
from cio_warehouse.webhooks.keys import DEFAULT_TTL_SECONDS, KeysUnavailable, SigningKeys
from cio_warehouse.webhooks.signature import DEFAULT_WINDOW_SECONDS, Reason, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/customerio/{source}"
TOO_LARGE = "body_too_large"  # the reason of the rejected:<reason> counter for a 413
_LOG_EVERY_SECONDS = 60.0  # the same warning, per source, at most once a minute
# What to do about each rejection. Customer.io waits an hour after a 401 and holds every later
# delivery behind it, so these say exactly what to fix.
_FIXES = {
    Reason.MISSING_SIGNATURE: "no X-CIO-Signature header; is the sender Customer.io?",
    Reason.MISSING_TIMESTAMP: "no X-CIO-Timestamp header; is the sender Customer.io?",
    Reason.BAD_TIMESTAMP: "X-CIO-Timestamp is not unix seconds; is the sender Customer.io?",
    Reason.STALE_TIMESTAMP: "signed correctly but more than the replay window away from this "
    "machine's clock: check the clock (NTP), or it is a replay",
    Reason.BAD_SIGNATURE: "the signature does not match the saved signing key: copy the key "
    "from Customer.io's Reporting Webhooks page into `cio-warehouse webhook signing-key {source}`",
}


@dataclass(frozen=True)
class ReceiverSettings:
    # Deliveries are one event each (a few KiB; `with_content` adds a message body): 1 MiB is
    # roomy for real ones and small enough that no request can make the process swap.
    max_body_bytes: int = 1024 * 1024
    timestamp_window_seconds: float = DEFAULT_WINDOW_SECONDS
    group_commit_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    group_commit_max_batch: int = DEFAULT_MAX_BATCH
    key_cache_seconds: float = DEFAULT_TTL_SECONDS
    inbox_busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS


class _TooLarge(Exception):
    pass


class Receiver:
    """The request handler and the resources it owns (the group committer, the key cache)."""

    def __init__(self, data_dir: DataDir, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.keys = SigningKeys(StateStore(data_dir), ttl_seconds=settings.key_cache_seconds)
        self.committer = GroupCommitter(
            data_dir.inbox,
            max_wait_seconds=settings.group_commit_wait_seconds,
            max_batch=settings.group_commit_max_batch,
            busy_timeout_seconds=settings.inbox_busy_timeout_seconds,
        )
        self._last_logged: dict[tuple[str, str], float] = {}

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.committer.start()
        try:
            yield
        finally:
            # uvicorn runs this after in-flight requests finished: drain what they queued.
            await asyncio.get_running_loop().run_in_executor(None, self.committer.close)

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception:
            # A 500 makes Customer.io wait an hour before retrying (and blocks every later
            # delivery behind it); 503 is retried with the ordinary backoff.
            log.exception("unexpected error in the webhook receiver; answered 503")
            return _reply(503, {"error": "internal error; retry"})

    async def _handle(self, request: Request) -> Response:
        source: str = request.path_params["source"]
        received_at = time.time()
        try:
            keys = await self.keys.get(source)
            if keys is None or not keys.configured:
                keys = await self.keys.get(source, fresh=True)  # added or keyed a moment ago?
        except KeysUnavailable as exc:
            self._warn(source, "keys", "%s; answering 503 so Customer.io retries", exc)
            return _reply(503, {"error": "state store unavailable; retry"})
        if keys is None:
            return _reply(404, {"error": "unknown source"})

        try:
            body = await self._read_body(request)
        except _TooLarge:
            await self._record(Submission(source, Kind.REJECTED, received_at, reason=TOO_LARGE))
            self._warn(source, TOO_LARGE, "a delivery over %d bytes was refused (413)",
                       self.settings.max_body_bytes)
            return _reply(413, {"error": "body too large"})
        except (ClientDisconnect, ValueError):
            return _reply(400, {"error": "bad request"})

        if not keys.configured:
            # Acked and dropped: a non-2xx would stall the whole stream behind this delivery for
            # up to 7 days (head-of-line blocking). The dropped counter makes it loud in status.
            await self._record(Submission(source, Kind.DROPPED, received_at))
            self._warn(source, "dropped", "a delivery was dropped: no signing key is set yet "
                       "(run `cio-warehouse webhook signing-key %s`)", source)
            return _reply(200, {"ok": True, "result": Result.DROPPED.value})

        timestamp = request.headers.get("x-cio-timestamp")
        signature = request.headers.get("x-cio-signature")
        window = self.settings.timestamp_window_seconds
        verdict = verify(keys.keys, timestamp, signature, body, now=received_at,
                         window_seconds=window)
        if verdict.reason is Reason.BAD_SIGNATURE:
            # Maybe the key was rotated a moment ago: re-read before refusing.
            try:
                fresh = await self.keys.get(source, fresh=True)
            except KeysUnavailable:
                fresh = keys
            if fresh is not None and fresh.configured and fresh.keys != keys.keys:
                verdict = verify(fresh.keys, timestamp, signature, body, now=received_at,
                                 window_seconds=window)
        if verdict.reason is not None:
            reason = verdict.reason.value
            await self._record(Submission(source, Kind.REJECTED, received_at, reason=reason))
            self._warn(source, reason, "a delivery was rejected (%s): %s", reason,
                       _FIXES[verdict.reason].format(source=source))
            return _reply(401, {"error": reason})

        submission = _classify(source, received_at, body)
        try:
            result = await self.committer.submit(submission)
        except CommitError:
            return _reply(503, {"error": "not stored; retry"})
        return _reply(200, {"ok": True, "result": result.value})

    async def _read_body(self, request: Request) -> bytes:
        """The raw bytes (the signature covers them exactly), cut off past max_body_bytes."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):
                raise ValueError("Content-Length is not a number")
            if int(declared) > limit:
                raise _TooLarge
        # Counted as it arrives as well: a chunked body has no length, and a declared one can lie.
        chunks: list[bytes] = []
        size = 0
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                chunks.append(chunk)
        return b"".join(chunks)

    async def _record(self, submission: Submission) -> None:
        """Count a delivery that stores nothing; its reply does not depend on the commit."""
        try:
            await self.committer.submit(submission)
        except CommitError:
            log.warning("could not count a %s delivery for source %r in the inbox",
                        submission.kind.value, submission.source)

    def _warn(self, source: str, what: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last_logged.get((source, what))
        if last is None or now - last >= _LOG_EVERY_SECONDS:
            self._last_logged[(source, what)] = now
            log.warning("source %r: " + message, source, *args)


def _classify(source: str, received_at: float, body: bytes) -> Submission:
    """An event when the body has the fields the inbox and the router need, else a dead letter.

    Signed bodies are never dropped: `event_id` is the dedup key and `object_type` picks the
    table, so a body lacking either is kept raw for a person to look at.
    """
    try:
        payload = orjson.loads(body)  # strict: invalid UTF-8 and lone surrogates are errors
    except orjson.JSONDecodeError:
        return _dead(source, received_at, body, "not valid JSON")
    if not isinstance(payload, dict):
        return _dead(source, received_at, body, "not a JSON object")
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return _dead(source, received_at, body, "no string event_id")
    object_type = payload.get("object_type")
    if not isinstance(object_type, str) or not object_type:
        return _dead(source, received_at, body, "no string object_type")
    return Submission(source, Kind.EVENT, received_at, body=body, event_id=event_id)


def _dead(source: str, received_at: float, body: bytes, reason: str) -> Submission:
    return Submission(source, Kind.DEAD_LETTER, received_at, body=body, reason=reason)


def _reply(status: int, payload: dict[str, object]) -> Response:
    headers = {"Retry-After": "5"} if status == 503 else None
    return Response(orjson.dumps(payload), status_code=status, headers=headers,
                    media_type="application/json")


def create_receiver_app(
    data_dir: DataDir, settings: ReceiverSettings | None = None
) -> Starlette:
    """The Starlette app; serve it with lifespan on (it starts and drains the inbox writer)."""
    receiver = Receiver(data_dir, settings or ReceiverSettings())
    app = Starlette(
        routes=[Route(WEBHOOK_PATH, receiver.handle, methods=["POST"])],
        lifespan=receiver.lifespan,
    )
    # A 307 to the path without the slash would make Customer.io re-POST elsewhere: a 404 is
    # clearer about a mistyped URL.
    app.router.redirect_slashes = False
    app.state.receiver = receiver
    return app
