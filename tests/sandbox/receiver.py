"""A real receiving endpoint for the sandbox's webhook sender: Starlette on uvicorn, scripted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay_s: float = 0.0  # answer this much later (beyond the sender's timeout: a timeout)


@dataclass(frozen=True)
class Received:
    arrived: float  # monotonic
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int

    @property
    def event_id(self) -> str | None:
        try:
            value = orjson.loads(self.body).get("event_id")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return value if isinstance(value, str) else None


class Receiver:
    """`with Receiver([Answer(500)]) as rx: ... rx.url ...`: answers in order, then 200s."""

    def __init__(self, answers: Iterable[Answer] = ()) -> None:
        self._answers = deque(answers)
        self._lock = threading.Lock()
        self._received: list[Received] = []
        app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", ws="none",
                                log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            answer = self._answers.popleft() if self._answers else Answer()
            self._received.append(Received(
                time.monotonic(), request.url.path,
                {name.lower(): value for name, value in request.headers.items()}, body,
                answer.status,
            ))
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        return Response(status_code=answer.status)

    @property
    def url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    @contextmanager
    def scripted(self, answers: Iterable[Answer] = ()) -> Iterator[Receiver]:
        """Reuse a running receiver: forget what it received, answer `answers` next."""
        with self._lock:
            self._answers = deque(answers)
            self._received = []
        yield self

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.received()

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test receiver did not start")
            time.sleep(0.005)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)
