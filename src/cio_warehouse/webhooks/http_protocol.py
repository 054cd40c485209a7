"""The receiver's HTTP protocol: uvicorn's, plus deadlines for a request's head and body and a cap
on the head's size, so that slow or hostile clients cannot hold the receiver's connections.

uvicorn 0.55's httptools protocol has neither: a connection that sends nothing, or a header a
byte at a time, stays open for ever, counts against `limit_concurrency` (so enough of them make
it answer 503 to Customer.io) and buffers an incomplete head of any size (only the h11 protocol
has `h11_max_incomplete_event_size`, whose meaning the cap here copies: the bytes waited on for
a head to end, so at most the cap plus one read of the socket). An ASGI middleware cannot help:
the app sees a request only once its head is complete, and not at all after its answer while
the rest of a body trickles in.

So this subclasses uvicorn's protocol, through the hook uvicorn offers for it (`Config(http=a
protocol class)`), and extends only public interfaces, each still calling uvicorn's own:
asyncio.Protocol's (connection_made, data_received, connection_lost) and httptools' parser
callbacks (on_headers_complete, on_message_complete), which uvicorn has to implement for as long
as it parses with httptools. Nothing of uvicorn's private state is read or changed.
tests/webhooks/test_slow_clients.py fails if uvicorn stops calling them this way, and tells when
uvicorn gets a deadline of its own (then use it, and drop this).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ReadLimits:
    header_timeout_seconds: float
    body_timeout_seconds: float
    max_incomplete_head_bytes: int


class _Stage(enum.Enum):
    HEAD = enum.auto()  # waiting for a request's head (from the connection or its first byte)
    BODY = enum.auto()  # the head is in; waiting for the rest of the body
    DONE = enum.auto()  # the whole request is in: the app answers; uvicorn's keep-alive after it


# Written as uvicorn writes its own 400 for a head it cannot parse: then the connection closes.
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
              b"connection: close\r\n\r\n")


class _ReadLimitedProtocol(HttpToolsProtocol):
    limits: ReadLimits  # set by receiver_protocol()
    _stage = _Stage.HEAD
    _head_bytes = 0
    _deadline = 0.0  # when the current stage must be over, in the loop's time
    # One timer per connection, moved only when a deadline comes before it and otherwise
    # re-armed when it fires: a timer set and cancelled per request cost about 4 us of CPU, on
    # top of the ~30 us uvicorn spends on one.
    _timer: asyncio.TimerHandle | None = None
    _timer_at = 0.0
    _connection: asyncio.Transport | None = None
    _event_loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._connection = transport
        self._event_loop = asyncio.get_running_loop()
        self._start(_Stage.HEAD, self.limits.header_timeout_seconds)

    def data_received(self, data: bytes) -> None:
        if self._stage is _Stage.DONE:
            # The next request on a kept-alive connection. Also blank lines, which llhttp skips
            # without starting a request but which reset uvicorn's keep-alive timer: a client
            # could otherwise hold the connection with one every few seconds.
            self._start(_Stage.HEAD, self.limits.header_timeout_seconds)
        if self._stage is _Stage.HEAD:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after the parser took these bytes: all of them belong to it. (A
        # whole head within one read is not counted: what it costs is bounded by the read.)
        if self._stage is _Stage.HEAD and self._head_bytes > self.limits.max_incomplete_head_bytes:
            self._close(_TOO_LARGE)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._start(_Stage.BODY, self.limits.body_timeout_seconds)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stage = _Stage.DONE  # no deadline while the app answers, nor between requests

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _start(self, stage: _Stage, seconds: float) -> None:
        assert self._event_loop is not None
        self._stage = stage
        self._head_bytes = 0
        self._deadline = self._event_loop.time() + seconds
        if self._timer is None or self._deadline < self._timer_at:
            self._arm()

    def _arm(self) -> None:
        assert self._event_loop is not None
        self._cancel()
        self._timer_at = self._deadline
        self._timer = self._event_loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        assert self._event_loop is not None
        self._timer = None
        if self._stage is _Stage.DONE:
            return  # the next request's first byte sets the next deadline
        if self._event_loop.time() < self._deadline:
            self._arm()  # a later stage or request moved the deadline
        else:
            self._close()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self, reply: bytes = b"") -> None:
        """Past a deadline the connection just closes, as uvicorn's keep-alive timeout does."""
        self._cancel()
        connection = self._connection
        if connection is not None and not connection.is_closing():
            if reply:
                connection.write(reply)
            connection.close()


def receiver_protocol(limits: ReadLimits) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`: uvicorn builds one per connection."""

    class ReceiverHttpProtocol(_ReadLimitedProtocol):
        pass

    ReceiverHttpProtocol.limits = limits
    return ReceiverHttpProtocol
