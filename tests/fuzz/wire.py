"""Raw HTTP/1.1 over asyncio streams: the fuzz suite's client.

httpx refuses to send most of what a fuzzer wants to send (non-latin-1 header bytes, a
Content-Length that lies, a bare LF, a truncated body), and its per-request overhead would make
100,000 requests take minutes on two shared cores. This client writes the bytes it is given and
reads one answer: status line, headers, then a Content-Length or chunked body.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

Header = tuple[bytes, bytes]
AUTO = -1  # content_length: the body's real length

# A hung request fails the run: the server must answer, or close, within this.
ANSWER_SECONDS = 20.0
_MAX_HEAD_BYTES = 1 << 20


@dataclass(frozen=True)
class Case:
    """One request and what the test may accept for it."""

    raw: bytes
    label: str
    # Its framing may be read differently by the server (lying lengths, garbage): it gets a
    # connection of its own, closed after the answer.
    fresh: bool = False
    # Shut the write side after sending: the body is truncated, and the server sees the EOF.
    half_close: bool = False
    head: bool = False  # a HEAD request: the answer has no body
    allowed: frozenset[int] | None = None  # None: any status below 500
    no_answer_ok: bool = False  # the server may close without answering (bad framing)
    tag: object = None  # the test's own bookkeeping (e.g. a delivery to store)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: closed without an answer
    headers: dict[bytes, bytes]
    body: bytes
    error: str = ""  # a timeout or a transport error, when there was no answer


@dataclass
class Tally:
    """What came back: counts per label and status, and the answers a test must look at."""

    sent: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_label: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first few, and how many in all
    failed: int = 0
    unavailable: list[str] = field(default_factory=list)  # 503s, with their bodies
    secrets: tuple[bytes, ...] = ()  # must never appear in an answer

    def add(self, case: Case, answer: Answer) -> None:
        self.sent += 1
        key = str(answer.status) if answer.status is not None else "closed"
        self.by_status[key] = self.by_status.get(key, 0) + 1
        self.by_label[case.label] = self.by_label.get(case.label, 0) + 1
        problem = judge(case, answer)
        shown = answer.body + b"".join(answer.headers.values())
        if any(secret in shown for secret in self.secrets):
            problem = "a secret in the answer"
        if answer.status == 503:
            self.unavailable.append(f"{case.label}: {answer.body[:200]!r}")
        if problem:
            self.failed += 1
            if len(self.failures) < 10:
                self.failures.append(f"{case.label}: {problem}; request {case.raw[:300]!r}")

    def summary(self) -> str:
        return f"{self.failed} bad answers, the first ones:\n" + "\n".join(self.failures)


def judge(case: Case, answer: Answer) -> str | None:
    """What is wrong with this answer, if anything (503 is left to the caller)."""
    if answer.status is None:
        return None if case.no_answer_ok else f"no answer ({answer.error or 'closed'})"
    if answer.status == 503:
        return None
    if answer.status >= 500:
        return f"status {answer.status}: {answer.body[:300]!r}"
    if case.allowed is not None and answer.status not in case.allowed:
        return f"status {answer.status} not in {sorted(case.allowed)}: {answer.body[:300]!r}"
    return None


def request(
    method: bytes,
    target: bytes,
    headers: Sequence[Header] = (),
    body: bytes = b"",
    *,
    content_length: int | None = AUTO,
    host: bytes = b"127.0.0.1",
) -> bytes:
    """The bytes of one request; `content_length=None` sends no Content-Length header."""
    lines = [method + b" " + target + b" HTTP/1.1", b"host: " + host]
    lines += [name + b": " + value for name, value in headers]
    if content_length is not None:
        size = len(body) if content_length == AUTO else content_length
        lines.append(b"content-length: %d" % size)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=_MAX_HEAD_BYTES)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Head and body are one write here, but keep the answer path free of Nagle delays.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, case: Case) -> tuple[Answer, bool]:
        """Send, read one answer; the bool says whether the connection can be used again."""
        self.writer.write(case.raw)
        if case.half_close:
            self.writer.write_eof()
        await self.writer.drain()
        while True:
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                return Answer(None, {}, exc.partial), False
            status, headers = _parse_head(head)
            if status != 100:  # Expect: 100-continue sends an interim answer first
                break
        body = b"" if case.head or status in (204, 304) else await self._body(headers)
        reusable = headers.get(b"connection", b"").lower() != b"close"
        return Answer(status, headers, body), reusable

    async def _body(self, headers: dict[bytes, bytes]) -> bytes:
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk[:-2])
        length = headers.get(b"content-length")
        if length is not None:
            return await self.reader.readexactly(int(length))
        return await self.reader.read()  # no length: the body ends with the connection


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    status_line, *lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def _send(
    connection: _Connection | None, host: str, port: int, case: Case
) -> tuple[Answer, _Connection | None]:
    """One exchange; a stale keep-alive connection (closed by the server) is retried once."""
    for attempt in range(2):
        fresh_connection = connection is None or case.fresh
        if fresh_connection:
            if connection is not None:
                connection.close()
            connection = await _Connection.open(host, port)
        assert connection is not None
        try:
            answer, reusable = await asyncio.wait_for(connection.exchange(case), ANSWER_SECONDS)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:  # ValueError: an answer this client cannot parse
            connection.close()
            connection = None
            if fresh_connection or attempt:
                return Answer(None, {}, b"", error=repr(exc)), None
            continue
        except TimeoutError:
            connection.close()
            return Answer(None, {}, b"", error=f"no answer in {ANSWER_SECONDS} s"), None
        if answer.status is None and not fresh_connection and not attempt:
            connection.close()  # the server closed an idle keep-alive connection: try anew
            connection = None
            continue
        if not reusable or case.fresh or answer.status is None:
            connection.close()
            connection = None
        return answer, connection
    raise AssertionError("unreachable")


FollowUp = Callable[[Case, Answer], Case | None]


async def run(
    host: str,
    port: int,
    cases: Iterator[Case],
    tally: Tally,
    *,
    concurrency: int = 48,
    follow_up: FollowUp | None = None,
) -> None:
    """Send every case with `concurrency` requests in flight, each worker on its own connection.

    `follow_up` may answer a case with another one (a 503'd delivery sent again, as
    Customer.io would), sent before the next case of the iterator.
    """
    retries: list[Case] = []

    def next_case() -> Case | None:
        if retries:
            return retries.pop()
        return next(cases, None)

    async def worker() -> None:
        connection: _Connection | None = None
        try:
            while (case := next_case()) is not None:
                answer, connection = await _send(connection, host, port, case)
                tally.add(case, answer)
                if follow_up is not None and (again := follow_up(case, answer)) is not None:
                    retries.append(again)
        finally:
            if connection is not None:
                connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*workers, return_exceptions=True)
