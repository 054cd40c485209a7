"""Fault knobs: what can go wrong on a request, as typed values with a JSON form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

RetryAfterFormat = Literal["seconds", "http_date"]
TruncateMode = Literal["connection", "json"]
SERVER_ERROR_STATUSES = (500, 502, 503, 504)


class FaultError(ValueError):
    """A knob that cannot be armed (unknown kind, bad field): the control route answers 400."""


@dataclass(frozen=True, kw_only=True)
class _Targeted:
    # A path prefix; None means any /v1/ path except /v1/workspaces, so that a client's key check
    # still works while its syncs meet the fault.
    path: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Counted(_Targeted):
    # How many matching requests it hits (None: every one), after letting `after` of them through,
    # so that a fault can land mid-paging.
    count: int | None = 1
    after: int = 0


@dataclass(frozen=True, kw_only=True)
class RateLimited(_Counted):
    """429, with Retry-After as seconds, as an HTTP date, or (retry_after=None) absent.

    `seconds`: a busy workspace instead of a count. Every matching request gets 429 for that
    long from the first one it hits (count is then ignored): the workspace's own traffic fills
    the shared 10 rps (docs/customerio-behaviour.md).
    """

    kind: ClassVar[str] = "rate_limited"
    retry_after: float | None = None
    retry_after_format: RetryAfterFormat = "seconds"
    seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class ServerError(_Counted):
    """A burst of `count` 5xx answers."""

    kind: ClassVar[str] = "server_error"
    status: int = 500


@dataclass(frozen=True, kw_only=True)
class Latency(_Targeted):
    """`ms` more milliseconds on every matching response (not counted, never consumed)."""

    kind: ClassVar[str] = "latency_ms"
    ms: float = 50.0


@dataclass(frozen=True, kw_only=True)
class TruncatedBody(_Counted):
    """A 200 cut mid-JSON: `connection` drops the socket short of Content-Length, `json` sends a
    complete HTTP response whose JSON is cut."""

    kind: ClassVar[str] = "truncated_body"
    mode: TruncateMode = "connection"


@dataclass(frozen=True, kw_only=True)
class RepeatCursor(_Counted):
    """On a cursor-paged list, `next` repeats a cursor already returned (the request's `start`).

    Only requests that carry a `start` match: the first page has no earlier cursor to repeat.
    """

    kind: ClassVar[str] = "repeat_cursor"


@dataclass(frozen=True, kw_only=True)
class Slow(_Counted):
    """Waits `seconds` before answering normally (set it above the client's read timeout)."""

    kind: ClassVar[str] = "slow"
    seconds: float = 5.0


@dataclass(frozen=True, kw_only=True)
class FailAlways(_Targeted):
    """A persistent outage: every matching request answers `status`, never consumed."""

    kind: ClassVar[str] = "fail_always"
    status: int = 503


Fault: TypeAlias = (
    RateLimited | ServerError | Latency | TruncatedBody | RepeatCursor | Slow | FailAlways
)
FAULT_TYPES: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (RateLimited, ServerError, Latency, TruncatedBody, RepeatCursor, Slow, FailAlways)
}


def fault_to_json(fault: Fault) -> dict[str, Any]:
    return {"kind": fault.kind, **dataclasses.asdict(fault)}


def fault_from_json(data: object) -> Fault:
    """A knob from its JSON form: {"kind": "...", <fields of that kind>}; FaultError if invalid."""
    if not isinstance(data, dict):
        raise FaultError(f"a fault knob is a JSON object, not {type(data).__name__}")
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = FAULT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise FaultError(f"unknown fault kind {kind!r}; choose from {sorted(FAULT_TYPES)}")
    allowed = {field.name for field in dataclasses.fields(cls)}
    unknown = set(fields) - allowed
    if unknown:
        raise FaultError(f"{kind}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    try:
        fault = cls(**fields)
    except TypeError as exc:
        raise FaultError(f"{kind}: {exc}") from exc
    validate(fault)
    return fault


def validate(fault: Fault) -> None:
    """Raise FaultError when a knob's values make no sense (JSON or Python alike)."""
    path: object = fault.path
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultError(f"{fault.kind}: path must be a prefix starting with '/', or null")
    if isinstance(fault, _Counted):
        if fault.count is not None and (not _is_int(fault.count) or fault.count < 1):
            raise FaultError(f"{fault.kind}: count must be an integer >= 1, or null for every one")
        if not _is_int(fault.after) or fault.after < 0:
            raise FaultError(f"{fault.kind}: after must be an integer >= 0")
    if isinstance(fault, ServerError | FailAlways) and fault.status not in SERVER_ERROR_STATUSES:
        raise FaultError(f"{fault.kind}: status must be one of {SERVER_ERROR_STATUSES}")
    if isinstance(fault, RateLimited):
        if fault.retry_after is not None and not _is_seconds(fault.retry_after):
            raise FaultError("rate_limited: retry_after must be seconds >= 0, or null for none")
        if fault.seconds is not None and not _is_seconds(fault.seconds):
            raise FaultError("rate_limited: seconds must be a number >= 0, or null for a count")
        if fault.retry_after_format not in ("seconds", "http_date"):
            raise FaultError("rate_limited: retry_after_format must be 'seconds' or 'http_date'")
    if isinstance(fault, Latency) and not _is_seconds(fault.ms):
        raise FaultError("latency_ms: ms must be a number >= 0")
    if isinstance(fault, Slow) and not _is_seconds(fault.seconds):
        raise FaultError("slow: seconds must be a number >= 0")
    if isinstance(fault, TruncatedBody) and fault.mode not in ("connection", "json"):
        raise FaultError("truncated_body: mode must be 'connection' or 'json'")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value) and value >= 0
    )
