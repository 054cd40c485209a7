"""Failed logins per client: past 10 in a minute, that client's login attempts get 429 until the
oldest of them is a minute old. Other clients, and sessions already made, are not affected."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

FAILURES_PER_WINDOW = 10
WINDOW_SECONDS = 60.0
# An attacker with many addresses cannot grow this without bound; past it the client whose last
# failure is the oldest is forgotten (one with that many addresses is not slowed by a per-client
# limit anyway).
MAX_CLIENTS = 10_000


def client_of(request: Request) -> str:
    """The peer's address. uvicorn (proxy_headers, on by default) puts the X-Forwarded-For
    client there instead when the peer is a trusted proxy ($FORWARDED_ALLOW_IPS, by default
    127.0.0.1 and ::1): behind a proxy that does not send that header every client has the
    proxy's address, and one client's failures throttle them all (docs/deployment.md)."""
    return request.client.host if request.client is not None else "unknown"


class LoginThrottle:
    """A sliding window of failure times per client. Written here rather than taken from a
    rate-limit library: only failures count, and they are counted after the attempt, which the
    libraries' request-counting limiters would need bending for; it is a dict of short deques."""

    def __init__(
        self,
        limit: int = FAILURES_PER_WINDOW,
        window: float = WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_clients = max_clients
        self._lock = threading.Lock()  # routes run in the event loop and in worker threads
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None: it may now."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None or len(times) < self.limit:
                return None
            wait = times[0] + self.window - now
            if wait <= 0:
                return None
            return wait

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times  # the most recent last
            # Forget the clients with no failure left in the window (they are at the front),
            # and past max_clients the least recent.
            while self._failures and (
                len(self._failures) > self._max_clients
                or next(iter(self._failures.values()))[-1] <= now - self.window
            ):
                self._failures.popitem(last=False)


def too_many_attempts(request: Request, wait: float) -> Response:
    """429 with Retry-After: JSON under /api/ and for bearer callers, else plain text."""
    seconds = max(1, math.ceil(wait))
    message = f"Too many failed logins from your address: try again in {seconds} s."
    headers = {"Retry-After": str(seconds)}
    if request.url.path.startswith("/api/") or "authorization" in request.headers:
        return JSONResponse({"error": message}, status_code=429, headers=headers)
    return PlainTextResponse(message, status_code=429, headers=headers)
