"""The Customer.io App API client: auth, pacing, retries, error classification and list paging."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from cio_warehouse.catalog import Table
from cio_warehouse.customerio import paging, regions
from cio_warehouse.customerio.errors import (
    CustomerIOError,
    DataError,
    KeyRejectedError,
    NotFoundError,
    RequestError,
    RetriesExhaustedError,
    ScopeMissingError,
    TransientError,
    excerpt,
    objects_under,
)
from cio_warehouse.customerio.pacing import RateLimiter, Slot
from cio_warehouse.customerio.retries import (
    IDEMPOTENT_METHODS,
    RetryableFailure,
    RetryPolicy,
    describe_exception,
    is_retryable_exception,
    is_retryable_status,
    parse_retry_after,
    unreachable,
)
from cio_warehouse.customerio.webhooks import ReportingWebhooksMixin
from cio_warehouse.secret import Secret

log = logging.getLogger(__name__)

_MASK = "**********"


def _version() -> str:
    try:
        return metadata.version("cio-warehouse")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


USER_AGENT = f"cio-warehouse/{_version()}"


@dataclass(frozen=True)
class ClientSettings:
    """Tunables of one client; the defaults follow customerio-api.md."""

    # customerio-api.md: "10 requests/second per workspace". None or 0 disables pacing.
    max_rps: int | None = 10
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_attempts: int = 8
    max_retry_seconds: float = 300.0
    # 429s have their own budget (retries.RetryPolicy.rate_limited_seconds).
    max_rate_limited_seconds: float = 300.0
    # customerio-api.md: "request ?limit=100 (no maximum is published; 100 is what others use)".
    page_limit: int = 100

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be > 0 seconds")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_retry_seconds < 0 or self.max_rate_limited_seconds < 0:
            raise ValueError("max_retry_seconds and max_rate_limited_seconds must be >= 0")
        if self.page_limit < 1:
            raise ValueError(f"page_limit must be >= 1, got {self.page_limit}")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            max_total_seconds=self.max_retry_seconds,
            rate_limited_seconds=self.max_rate_limited_seconds,
        )


@dataclass
class RequestStats:
    """Live counters for one table's requests, read by progress displays from another thread.

    Each field is written by the one thread that syncs the table; plain int/None assignments are
    atomic in CPython, which is all a reader needs.
    """

    requests: int = 0
    retries: int = 0
    pages: int = 0
    rows: int = 0
    last_status: int | None = None


class _BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer <key>` per request, so the key never sits in client headers."""

    def __init__(self, api_key: Secret) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # customerio-api.md: "Auth: Authorization: Bearer <App API key>".
        request.headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        yield request


class AppAPIClient(ReportingWebhooksMixin):
    """A thread-safe, paced, retrying client of Customer.io's App API (one workspace key)."""

    def __init__(
        self,
        api_key: Secret,
        *,
        region: str = "us",
        api_base_url: str | None = None,
        settings: ClientSettings | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a Secret, so that it never shows in logs or errors")
        self.region = regions.check_region(region)
        self.base_url = regions.base_url(self.region, api_base_url)
        url = httpx.URL(self.base_url)
        self.host, self.port = url.host, url.port or (443 if url.scheme == "https" else 80)
        self.settings = settings or ClientSettings()
        self.limiter = limiter or RateLimiter(self.settings.max_rps, 1.0)
        self.policy = self.settings.retry_policy()
        self._api_key = api_key
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=_BearerAuth(api_key),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=httpx.Timeout(
                self.settings.read_timeout, connect=self.settings.connect_timeout
            ),
            transport=transport,
            # A redirect would be a misconfigured base URL; following it silently hides that.
            follow_redirects=False,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AppAPIClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AppAPIClient(region={self.region!r}, base_url={self.base_url!r})"

    # -- public calls ------------------------------------------------------------------------

    def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        stats: RequestStats | None = None,
    ) -> dict[str, Any]:
        """GET `path` (paced, retried, classified) and return its JSON object."""
        body = self._call("GET", path, params=params, stats=stats)
        if not isinstance(body, dict):
            raise DataError(
                f"GET {path} returned JSON {type(body).__name__}, not an object: Customer.io's "
                f"answer is not what its API reference documents.",
                path=path,
            )
        return body

    def check_key(self) -> list[dict[str, Any]]:
        """Validate the key with the cheapest call (`GET /v1/workspaces`); return the workspaces."""
        path = "/v1/workspaces"
        return objects_under(self.get_json(path), "workspaces", path)

    def iter_pages(
        self,
        table: Table,
        stats: RequestStats | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the rows of an App API list endpoint page by page, as the catalog row describes
        (with `params` on every request: a history window).

        Only one page is held at a time, so memory stays flat however large the workspace is.
        """

        def get(path: str, params: Mapping[str, str]) -> dict[str, Any]:
            body = self.get_json(path, params, stats)
            if stats is not None:
                stats.pages += 1
            return body

        for rows in paging.iter_pages(get, table, self.settings.page_limit, params):
            if stats is not None:
                stats.rows += len(rows)
            yield rows

    # -- the one request path ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        parse_json: bool = True,
        params: Mapping[str, str] | None = None,
        stats: RequestStats | None = None,
    ) -> Any:
        """Send one logical request: paced, retried per the policy, classified; return its JSON."""
        method = method.upper()

        def on_retry(failed: int, delay: float, failure: RetryableFailure) -> None:
            log.info(
                "retrying %s %s in %.2f s after %s (attempt %d)",
                method,
                path,
                delay,
                failure.description,
                failed + 1,
            )

        def on_exhausted(attempts: int, elapsed: float, failure: RetryableFailure) -> NoReturn:
            raise self._exhausted(method, path, attempts, elapsed, failure) from None

        retrying = self.policy.retrying(
            rng=self._rng, clock=self._clock, sleep=self._sleep,
            on_retry=on_retry, on_exhausted=on_exhausted,
        )
        for attempt in retrying:
            with attempt:
                if stats is not None:
                    stats.requests += 1
                    if attempt.retry_state.attempt_number > 1:
                        stats.retries += 1
                # Every attempt, retries included, counts against the workspace's 10 rps.
                with self.limiter.hold() as slot:
                    return self._attempt(method, path, params, json_body, parse_json, stats, slot)
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        parse_json: bool,
        stats: RequestStats | None,
        slot: Slot,
    ) -> Any:
        try:
            response = self._http.request(
                method, path, params=params, json=json_body, extensions={"trace": slot.trace}
            )
        except httpx.RequestError as exc:
            description = self._scrub(describe_exception(exc))
            if is_retryable_exception(exc, method):
                raise RetryableFailure(
                    description, status=None, unreachable=unreachable(exc, self.host, self.port)
                ) from exc
            if method not in IDEMPOTENT_METHODS and is_retryable_exception(exc, "GET"):
                raise TransientError(
                    f"{method} {path} failed ({description}) after the request may have reached "
                    f"Customer.io, so it was not repeated: check the result in Customer.io "
                    f"before trying again.",
                    path=path,
                ) from None
            raise CustomerIOError(
                f"{method} {path} could not be sent ({description}): check the API base URL.",
                path=path,
            ) from None
        status = response.status_code
        if stats is not None:
            stats.last_status = status
        if 200 <= status < 300:
            if not parse_json:
                return None
            return self._parse(method, path, response)
        self._raise_for_status(method, path, response)

    def _parse(self, method: str, path: str, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            text = self._scrub(excerpt(response.text, limit=80))
            description = f"HTTP {response.status_code} with a body that is not JSON ({text})"
            if method in IDEMPOTENT_METHODS:
                # A 2xx whose body does not parse was most likely cut by a dropped connection.
                raise RetryableFailure(
                    description, status=response.status_code, not_json=text
                ) from None
            raise DataError(
                f"{method} {path} answered {description}; the change may have been made, so it "
                f"was not repeated: check the result in Customer.io.",
                status=response.status_code,
                path=path,
            ) from None

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        status = response.status_code
        if status == 401:
            raise KeyRejectedError(path=path, region=self.region, method=method,
                                   host=urlsplit(self.base_url).netloc)
        if status == 403:
            raise ScopeMissingError(path=path, method=method)
        if status == 404:
            raise NotFoundError(path=path, method=method)
        body = self._scrub(excerpt(response.text))
        if is_retryable_status(status, method):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableFailure(
                f"HTTP {status} ({body})", status=status, retry_after=retry_after
            )
        if status >= 500:
            # Not retried: the method is not idempotent (see retries.is_retryable_status).
            raise TransientError(
                f"{method} {path} failed with HTTP {status} ({body}) after the request may have "
                f"been processed, so it was not repeated: check the result in Customer.io "
                f"before trying again.",
                status=status,
                path=path,
            )
        if 400 <= status < 500:
            raise RequestError(status=status, path=path, body_excerpt=body, method=method)
        raise CustomerIOError(
            f"{method} {path} answered an unexpected HTTP {status} (to "
            f"{response.headers.get('Location', 'nowhere')!r}): check the API base URL.",
            status=status,
            path=path,
        )

    def _exhausted(
        self, method: str, path: str, attempts: int, elapsed: float, failure: RetryableFailure
    ) -> CustomerIOError:
        if failure.not_json is not None:
            return DataError(
                f"{method} {path} returned a body that is not JSON ({failure.not_json}) on the "
                f"last of {attempts} attempts: Customer.io sent a truncated or non-JSON answer; "
                f"try again later.",
                status=failure.status,
                path=path,
            )
        return RetriesExhaustedError(
            path=path,
            method=method,
            attempts=attempts,
            elapsed=elapsed,
            last=failure.description,
            status=failure.status,
            host=urlsplit(self.base_url).netloc,
            unreachable=failure.unreachable,
        )

    def _scrub(self, text: str) -> str:
        # Bodies are opaque (customerio-api.md) and could echo what we sent; never let the key out.
        key = self._api_key.reveal()
        return text.replace(key, _MASK) if key in text else text
