"""The receiver app: one POST route that verifies, group-commits to the inbox, then acks.

The app and its endpoint are plain ASGI callables rather than a Starlette app and a Request ->
Response function: every ack pays for its per-request objects and layers in CPU, and this process
has to keep up with Customer.io's stream on a machine it shares with the service's syncs and
queries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple, cast

import orjson
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from cio_warehouse.log_throttle import LogThrottle
from cio_warehouse.state import DataDir, StateStore
from cio_warehouse.webhooks.group_commit import (
    DEFAULT_BUSY_TIMEOUT_SECONDS,
    DEFAULT_MAX_BATCH,
    CommitError,
    GroupCommitter,
)
from cio_warehouse.webhooks.inbox import InboxLocation, Kind, Result, Submission
from cio_warehouse.webhooks.keys import DEFAULT_TTL_SECONDS, KeysUnavailable, SigningKeys
from cio_warehouse.webhooks.signature import DEFAULT_WINDOW_SECONDS, Reason, verify

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/customerio/{source}"
_WEBHOOK_PREFIX = WEBHOOK_PATH.removesuffix("{source}")
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
    # The connection's side (http_protocol.py, uvicorn's limit_concurrency). Customer.io sends a
    # whole delivery at once and waits 4 s for the answer: a request not in after 5 s cannot be
    # answered in time anyway, and closing it frees its place. Past max_connections a request
    # is answered 503 (Customer.io retries); 1,000 leaves room for hundreds of slow clients
    # beside the real stream, and is what the file descriptors are raised for at start.
    max_connections: int = 1000
    header_timeout_seconds: float = 5.0
    body_timeout_seconds: float = 5.0
    # A head still incomplete past this is refused (431): h11's max_incomplete_event_size and
    # its default, which uvicorn's httptools protocol lacks (it buffers a head of any size).
    max_incomplete_head_bytes: int = 16 * 1024
    timestamp_window_seconds: float = DEFAULT_WINDOW_SECONDS
    group_commit_max_batch: int = DEFAULT_MAX_BATCH
    key_cache_seconds: float = DEFAULT_TTL_SECONDS
    inbox_busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class _Reply(NamedTuple):
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]


def _reply(status: int, payload: dict[str, object]) -> _Reply:
    body = orjson.dumps(payload)
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    if status == 503:
        headers.append((b"retry-after", b"5"))
    return _Reply(status, body, tuple(headers))


# Built once: the answers of the hot path.
_ACK = {result: _reply(200, {"ok": True, "result": result.value}) for result in Result}
_NOT_STORED = _reply(503, {"error": "not stored; retry"})
_INTERNAL_ERROR = _reply(503, {"error": "internal error; retry"})


class Receiver:
    """The request handler (an ASGI endpoint) and what it owns (the group committer, the keys)."""

    def __init__(
        self, data_dir: DataDir, settings: ReceiverSettings, inbox: InboxLocation | None = None
    ) -> None:
        self.settings = settings
        self.inbox = inbox or InboxLocation(path=data_dir.inbox)
        self.keys = SigningKeys(_key_store(data_dir, self.inbox),
                                ttl_seconds=settings.key_cache_seconds)
        self.committer = GroupCommitter(
            self.inbox,
            max_batch=settings.group_commit_max_batch,
            busy_timeout_seconds=settings.inbox_busy_timeout_seconds,
        )
        self._log_throttle = LogThrottle(_LOG_EVERY_SECONDS)  # keyed by (source, what)
        self._loop: asyncio.AbstractEventLoop | None = None  # the one that serves the requests

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self.committer.start()
        try:
            yield
        finally:
            # uvicorn runs this after in-flight requests finished: drain what they queued.
            await asyncio.get_running_loop().run_in_executor(None, self.committer.close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            reply = await self._handle(scope, receive)
        except Exception:
            # A 500 makes Customer.io wait an hour before retrying (and blocks every later
            # delivery behind it); 503 is retried with the ordinary backoff.
            log.exception("unexpected error in the webhook receiver; answered 503")
            reply = _INTERNAL_ERROR
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": list(reply.headers)})
        await send({"type": "http.response.body", "body": reply.body})

    async def _handle(self, scope: Scope, receive: Receive) -> _Reply:
        source: str = scope["path_params"]["source"]
        received_at = time.time()
        keys = self.keys.cached(source)
        if keys is None or not keys.configured:
            try:
                keys = await self.keys.get(source)
                if keys is None or not keys.configured:
                    keys = await self.keys.get(source, fresh=True)  # added or keyed just now?
            except KeysUnavailable as exc:
                self._warn(source, "keys", "%s; answering 503 so Customer.io retries", exc)
                return _reply(503, {"error": "state store unavailable; retry"})
        if keys is None:
            return _reply(404, {"error": "unknown source"})

        # One pass over the raw headers (lower-case names, as ASGI gives them); the first of a
        # repeated header counts, as with Starlette's Headers.get.
        timestamp = signature = declared = None
        for name, value in scope["headers"]:
            if name == b"x-cio-timestamp":
                if timestamp is None:
                    timestamp = value.decode("latin-1")
            elif name == b"x-cio-signature":
                if signature is None:
                    signature = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")

        try:
            body = await self._read_body(receive, declared)
        except _TooLarge:
            await self._record(Submission(source, Kind.REJECTED, received_at, reason=TOO_LARGE))
            self._warn(source, TOO_LARGE, "a delivery over %d bytes was refused (413)",
                       self.settings.max_body_bytes)
            return _reply(413, {"error": "body too large"})
        except (_Disconnected, ValueError):
            return _reply(400, {"error": "bad request"})

        if not keys.configured:
            # Acked and dropped: a non-2xx would stall the whole stream behind this delivery for
            # up to 7 days (head-of-line blocking). The dropped counter makes it loud in status.
            await self._record(Submission(source, Kind.DROPPED, received_at))
            self._warn(source, "dropped", "a delivery was dropped: no signing key is set yet "
                       "(run `cio-warehouse webhook signing-key %s`)", source)
            return _ACK[Result.DROPPED]

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

        try:
            result = await self.committer.enqueue(_classify(source, received_at, body),
                                                  self._loop)
        except CommitError:
            return _NOT_STORED
        return _ACK[result]

    async def _read_body(self, receive: Receive, declared: str | None) -> bytes:
        """The raw bytes (the signature covers them exactly), cut off past max_body_bytes."""
        limit = self.settings.max_body_bytes
        if declared is not None:
            declared = declared.strip()
            if not (declared.isascii() and declared.isdigit()):
                raise ValueError("Content-Length is not a number")
            if int(declared) > limit:
                raise _TooLarge
        # Counted as it arrives as well: a chunked body has no length, and a declared one can lie.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            if not message.get("more_body", False):
                if not chunks:
                    return chunk  # the usual case: the whole body in one message, no copy
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    async def _record(self, submission: Submission) -> None:
        """Count a delivery that stores nothing; its reply does not depend on the commit."""
        try:
            await self.committer.submit(submission)
        except CommitError:  # the committer logs why; this only says what went uncounted
            self._warn(submission.source, "uncounted", "a %s delivery could not be counted "
                       "in the inbox", submission.kind.value)

    def _warn(self, source: str, what: str, message: str, *args: object) -> None:
        if self._log_throttle.allow((source, what)):
            log.warning("source %r: " + message, source, *args, extra={"source": source})


def _key_store(data_dir: DataDir, inbox: InboxLocation) -> StateStore:
    """Where the signing keys are read: the data dir's state store, or, on a shared inbox, the
    keys the service publishes there (published_keys.py), the same for every receiver wherever
    it runs. Raises StateError when a shared inbox's keys cannot be opened."""
    if inbox.url is None:
        return StateStore(data_dir)
    from cio_warehouse.webhooks.published_keys import PublishedKeys, receiver_secret_key

    published = PublishedKeys(inbox.url, receiver_secret_key(data_dir),
                              timeout=DEFAULT_BUSY_TIMEOUT_SECONDS)
    published.check()
    # SigningKeys reads a store only through source_names() and get_source(), which
    # PublishedKeys answers in kind.
    return cast(StateStore, published)


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


class ReceiverApp:
    """The ASGI app: a POST to the webhook route goes straight to the receiver; anything else
    goes to a plain Starlette Router with that same one route (another method on it is a 405,
    another path a 404) and the lifespan.

    The route is matched here by hand, as the Router would match it (a source is one non-empty
    path segment), because a Starlette app's per-request layers (error middleware, exception
    handlers, the router's walk and its regex) cost about a tenth of an ack's CPU, and the
    receiver answers every error itself. tests/webhooks/test_receiver_routing.py checks that both
    agree on every path.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        # redirect_slashes off: a 307 to the path without the slash would make Customer.io
        # re-POST elsewhere, and a 404 is clearer about a mistyped URL.
        self.router = Router([Route(WEBHOOK_PATH, receiver, methods=["POST"])],
                             redirect_slashes=False, lifespan=receiver.lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Behind a root_path, the Router strips it and matches as usual.
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(_WEBHOOK_PREFIX):
                source = path[len(_WEBHOOK_PREFIX):]
                if source and "/" not in source:
                    scope["path_params"] = {"source": source}
                    await self.receiver(scope, receive, send)
                    return
        await self.router(scope, receive, send)


def create_receiver_app(
    data_dir: DataDir, settings: ReceiverSettings | None = None,
    inbox: InboxLocation | None = None,
) -> ReceiverApp:
    """The ASGI app; serve it with lifespan on (it starts and drains the inbox writer).

    `inbox`: the data dir's inbox.db when None."""
    return ReceiverApp(Receiver(data_dir, settings or ReceiverSettings(), inbox))
