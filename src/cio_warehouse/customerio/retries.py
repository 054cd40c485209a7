"""When to retry an App API call, how long to wait (full jitter, Retry-After), when to stop.

Two budgets: 5xx and transport failures get `max_attempts` attempts within `max_total_seconds`;
429s do not count against those attempts and are ridden out for `rate_limited_seconds`, because
the workspace's own traffic shares Customer.io's 10 rps and `Retry-After: 1` can repeat for a
minute or more (docs/customerio-behaviour.md).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NoReturn

import httpx
import tenacity

from cio_warehouse.backoff import Backoff

# Methods that may be repeated without changing the result twice. POST/PUT/DELETE on reporting
# webhooks are not treated as such: a repeated POST could create a second webhook.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Transport errors after which the request may or may not have reached Customer.io: safe to
# repeat only for idempotent calls.
_MAYBE_SENT: tuple[type[Exception], ...] = (
    httpx.TimeoutException,  # read/write timeouts (connect/pool timeouts are also NEVER_SENT)
    httpx.NetworkError,  # connection reset, read/write errors
    httpx.RemoteProtocolError,  # a body cut short by a dropped connection
    httpx.DecodingError,  # a compressed body cut short
    httpx.ProxyError,
)
# Transport errors that prove the request never left: safe to repeat even for POST/PUT/DELETE.
_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,  # refused, DNS, TLS handshake
    httpx.ConnectTimeout,
    httpx.PoolTimeout,  # waited for a free connection of our own pool
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and backoff for retries: exponential with full jitter, honouring Retry-After."""

    # 5xx and transport failures: at most this many attempts, and this long in all.
    max_attempts: int = 8
    max_total_seconds: float = 300.0
    # 429s: any number of attempts while the request has waited less than this in all. At least
    # two minutes: a busy workspace's own sends keep its 10 rps budget full that long.
    rate_limited_seconds: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    # customerio-api.md: Retry-After "is not documented (but honour it when present)": a proxy or
    # a misconfigured server could ask for hours, so cap what we accept.
    max_retry_after: float = 60.0
    # Added to a Retry-After wait, uniform in [0, this]: concurrent table syncs told the same
    # `Retry-After: 1` would otherwise all come back in the same instant and be refused again.
    retry_after_jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        budgets = (self.max_total_seconds, self.rate_limited_seconds, self.base_delay,
                   self.max_delay, self.retry_after_jitter)
        if any(value < 0 for value in budgets):
            raise ValueError("retry delays and budgets must be >= 0")

    def backoff(self, failed_attempts: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(n-1))] after the n-th failure.

        Full jitter spreads the retries of concurrent table syncs that share the 10 rps budget
        instead of having them all come back in the same instant.
        """
        return Backoff(self.base_delay, self.max_delay, jitter=rng).after(failed_attempts)

    def delay(self, failed_attempts: int, retry_after: float | None, rng: random.Random) -> float:
        """How long to wait before the next attempt: Retry-After (capped) plus a little jitter,
        never less than Customer.io asked for; without it, the exponential backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) + rng.uniform(0, self.retry_after_jitter)
        return self.backoff(failed_attempts, rng)

    def retrying(
        self,
        *,
        rng: random.Random,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_retry: Callable[[int, float, RetryableFailure], None],
        on_exhausted: Callable[[int, float, RetryableFailure], NoReturn],
    ) -> tenacity.Retrying:
        """A tenacity loop for one logical request: `for attempt in ...: with attempt: ...`.

        Only a RetryableFailure is retried; any other error leaves at once. After a 5xx or a
        transport failure it stops once max_attempts of those failed, or when the wait would end
        past max_total_seconds since the first attempt; after a 429, when the wait would end past
        rate_limited_seconds (both on `clock`, so a test's fake clock counts). Then
        `on_exhausted(attempts, elapsed, failure)` raises. Before each wait,
        `on_retry(failed_attempts, delay, failure)`.
        """
        started = clock()

        def failure(state: tenacity.RetryCallState) -> RetryableFailure:
            assert state.outcome is not None  # tenacity calls these after a failure
            exc = state.outcome.exception()
            assert isinstance(exc, RetryableFailure)  # the only error retried
            return exc

        def wait(state: tenacity.RetryCallState) -> float:
            return self.delay(state.attempt_number, failure(state).retry_after, rng)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            on_retry(state.attempt_number, state.upcoming_sleep, failure(state))

        def exhausted(state: tenacity.RetryCallState) -> NoReturn:
            on_exhausted(state.attempt_number, clock() - started, failure(state))

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableFailure),
            wait=wait,
            stop=_Budgets(self, clock, started, failure),
            sleep=lambda seconds: sleep(float(seconds)),
            before_sleep=before_sleep,
            retry_error_callback=exhausted,
        )


class _Budgets(tenacity.stop.stop_base):
    """Stop per the kind of the last failure: 429s on their own time budget, anything else on
    the attempts and the total time. Time is the client's own clock (tenacity's
    stop_before_delay reads time.monotonic, and stops at the budget rather than past it), and a
    budget is over when the next wait would end past it."""

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Callable[[], float],
        started: float,
        failure: Callable[[tenacity.RetryCallState], RetryableFailure],
    ) -> None:
        self._policy, self._clock, self._started, self._failure = policy, clock, started, failure
        self._other_failures = 0  # tenacity calls a stop once per failed attempt

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        waited = self._clock() - self._started + retry_state.upcoming_sleep
        if self._failure(retry_state).status == 429:
            return waited > self._policy.rate_limited_seconds
        self._other_failures += 1
        return (
            self._other_failures >= self._policy.max_attempts
            or waited > self._policy.max_total_seconds
        )


class RetryableFailure(Exception):
    """One attempt failed in a way the policy may retry (within the client only)."""

    def __init__(
        self,
        description: str,
        *,
        status: int | None,
        retry_after: float | None = None,
        not_json: str | None = None,
        unreachable: str | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after
        self.not_json = not_json  # the body excerpt when a 2xx body was not JSON
        self.unreachable = unreachable  # what failed, when no connection could be made at all


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None.

    Garbage, negative numbers and dates without a time zone are ignored (None): the caller then
    falls back to its own backoff. A date in the past means "now" (0.0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; a naive result came from a malformed header.
        return None
    current = now if now is not None else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)


def is_retryable_status(status: int, method: str) -> bool:
    """429 always (the server refused before doing anything); 5xx only for idempotent methods."""
    if status == 429:
        return True
    # A 500/502/503/504 on a POST/PUT/DELETE may come after the change was made (a gateway timing
    # out on a slow backend): repeating it could create a second webhook, so it is not retried.
    return 500 <= status <= 599 and method.upper() in IDEMPOTENT_METHODS


def is_retryable_exception(exc: BaseException, method: str) -> bool:
    """Transport failures worth another attempt for this method."""
    if isinstance(exc, _NEVER_SENT):
        return True
    # A read timeout or a cut connection on a POST/PUT/DELETE may hide a change that was made.
    return isinstance(exc, _MAYBE_SENT) and method.upper() in IDEMPOTENT_METHODS


def describe_exception(exc: BaseException) -> str:
    """A short description of a transport failure, without headers (httpx messages carry none)."""
    detail = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {detail[:160]}" if detail else name


def unreachable(exc: BaseException, host: str, port: int) -> str | None:
    """What failed, when no connection to `host`:`port` could be made (the name does not resolve,
    nothing listens, no answer to connect): a host that is down or mistyped, not a busy
    Customer.io. None for any other failure."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no answer from {host}:{port} to connect"
    if not isinstance(exc, httpx.ConnectError):
        return None
    cause: BaseException | None = exc
    while cause is not None:  # httpx -> httpcore -> the socket's own error
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host {host}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {host}:{port}"
        cause = cause.__cause__ or cause.__context__
    return None
