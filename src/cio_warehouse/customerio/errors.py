"""The App API client's errors, classified where they arise, each with a fix-it message."""

from __future__ import annotations

import re
from typing import Any

from cio_warehouse.customerio import regions

# Enough of an error body to recognise it, short enough to sit in a status line.
EXCERPT_CHARS = 200
_API_KEYS_PAGE = "Settings > Account Settings > API Credentials > App API Keys"


def excerpt(body: str, *, limit: int = EXCERPT_CHARS) -> str:
    """A one-line, bounded excerpt of a response body.

    customerio-api.md: error bodies vary (`{"meta":{"error":...}}`, `{"errors":[...]}`, HTML,
    text), so the body is opaque text: collapse whitespace and cut, never parse.
    """
    text = re.sub(r"\s+", " ", body).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or "(empty body)"


def resource_of(path: str) -> str:
    """The resource a path names, e.g. `/v1/segments` -> `segments`, for messages."""
    parts = [part for part in path.split("?", 1)[0].split("/") if part]
    if parts and re.fullmatch(r"v\d+", parts[0]):
        parts = parts[1:]
    return parts[0] if parts else path


class CustomerIOError(Exception):
    """Base of every error the App API client raises."""

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path

    def __str__(self) -> str:
        return self.message


class KeyRejectedError(CustomerIOError):
    """HTTP 401: the key is wrong, revoked, a Track API key, or from the other region."""

    def __init__(
        self, *, path: str, region: str, method: str = "GET", host: str | None = None
    ) -> None:
        # customerio-api.md: "A key used against the other region's host gets 401; nothing tells
        # the region" and "Track API keys do not work here (401)": name all three causes.
        used = host or regions.host(region)
        other = regions.other_region(region)
        if used == regions.host(region):
            where = (
                f"that it belongs to this region, because US keys work only on api.customer.io "
                f"and EU keys only on api-eu.customer.io, so if the workspace lives in the "
                f"{other.upper()} region, use region {other!r}"
            )
        else:  # an API base URL replaces the region's host (a sandbox, a proxy)
            where = (
                f"that {used}, the source's API base URL, is the App API this key belongs to "
                f"(or forwards to {regions.host(region)})"
            )
        message = (
            f"Customer.io rejected the App API key (HTTP 401 on {method} {path}, region "
            f"{region}, {used}): check that the key is right and not revoked, that it is an App "
            f"API key and not a Track API key (App API keys are under {_API_KEYS_PAGE}), and "
            f"{where}. If the workspace limits App API access to an IP allowlist, also check "
            f"that this machine's public address is on it."
        )
        super().__init__(message, status=401, path=path)
        self.region = region


class ScopeMissingError(CustomerIOError):
    """HTTP 403: the key is valid but its scope lacks this endpoint."""

    def __init__(self, *, path: str, method: str = "GET") -> None:
        # customerio-api.md: "403 = the key's scope lacks the endpoint".
        self.resource = resource_of(path)
        verb = "read" if method == "GET" else "change"
        message = (
            f"The App API key may not {verb} {self.resource} (HTTP 403 on {method} {path}): "
            f"in Customer.io, give the key access to {self.resource} under {_API_KEYS_PAGE}, "
            f"or create a key with full access. If the workspace limits App API access to an IP "
            f"allowlist, check that this machine's public address is on it."
        )
        super().__init__(message, status=403, path=path)


class NotFoundError(CustomerIOError):
    """HTTP 404: no such resource (an unknown id, or an endpoint this workspace lacks)."""

    def __init__(self, *, path: str, method: str = "GET") -> None:
        message = (
            f"Customer.io has nothing at {method} {path} (HTTP 404): check the id, and that the "
            f"API base URL points at Customer.io's App API."
        )
        super().__init__(message, status=404, path=path)


class RequestError(CustomerIOError):
    """Any other 4xx: the request itself was refused; the body excerpt says why."""

    def __init__(self, *, status: int, path: str, body_excerpt: str, method: str = "GET") -> None:
        message = (
            f"Customer.io refused {method} {path} with HTTP {status} ({body_excerpt}): fix the "
            f"request as the response says; retrying it unchanged will not help."
        )
        super().__init__(message, status=status, path=path)
        self.body_excerpt = body_excerpt


class TransientError(CustomerIOError):
    """A failure that may pass by itself: 429, 5xx, timeouts, dropped connections."""


class RetriesExhaustedError(TransientError):
    """A transient failure that outlasted the retry budget (attempts or total time)."""

    def __init__(
        self,
        *,
        path: str,
        method: str,
        attempts: int,
        elapsed: float,
        last: str,
        status: int | None,
        host: str = "Customer.io",
        unreachable: str | None = None,
    ) -> None:
        tries = f"{attempts} attempt{'' if attempts == 1 else 's'} over {elapsed:.1f} s"
        if unreachable is not None:
            # Nothing answered at all: a mistyped or unreachable host, not a busy Customer.io.
            message = (
                f"{method} {path} failed: {unreachable} ({tries}): check the API base URL (or "
                f"the region), and this machine's network, DNS, proxy and firewall."
            )
        elif status == 429:
            # customerio-api.md: the 10 rps are per workspace, shared with every other caller.
            message = (
                f"{method} {path} was still rate limited (HTTP 429) after {tries} (last: "
                f"{last}): other tools or scripts using this workspace's App API share its 10 "
                f"requests/second; try again when they are done, or lower --max-rps."
            )
        else:
            message = (
                f"{method} {path} still failed after {tries} (last: {last}): {host} is "
                f"unavailable or rate limiting this workspace; try again later, or lower the "
                f"request rate if other tools share the 10 requests/second limit."
            )
        super().__init__(message, status=status, path=path)
        self.attempts = attempts
        self.elapsed = elapsed
        self.last = last


class DataError(CustomerIOError):
    """The response does not have the shape the App API documents (not JSON, no list, a loop)."""


def objects_under(body: object, key: str, path: str) -> list[dict[str, Any]]:
    """The list of objects a list endpoint returns under `key`, or DataError saying it did not."""
    found = body.get(key) if isinstance(body, dict) else None
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        raise DataError(
            f"GET {path} did not return a list of objects under {key!r}: Customer.io's answer "
            "is not what its API reference documents.",
            path=path,
        )
    return found
