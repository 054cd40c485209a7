"""`GET /v1/messages`: message history in windows of creation time, newest first, cursor-paged."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cio_warehouse.sandbox import cursor
from cio_warehouse.sandbox.api import FAULT_SCOPE_KEY, parse_limit
from cio_warehouse.sandbox.faults import RepeatCursor
from cio_warehouse.sandbox.history import (
    CHANNEL_OF_TYPE,
    CURSOR_TABLE,
    MESSAGES_PATH,
    SIX_MONTHS_S,
    MessageHistory,
    Query,
)
from cio_warehouse.sandbox.responses import JSONResponse, bad_request
from cio_warehouse.sandbox.workspace import Workspace

# customerio-api.md: `limit` up to 1000; 50 is our reading of the default. Over 1000 is clamped
# like the other lists.
DEFAULT_LIMIT = 50
_INTEGER = re.compile(r"[0-9]+")


class _BadQuery(ValueError):
    pass


def _integer(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    if not _INTEGER.fullmatch(text):
        raise _BadQuery(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


def _window(request: Request, now: float) -> tuple[int, int]:
    """[start_ts, end_ts) on creation time: the last 6 months by default, never longer."""
    start_ts, end_ts = _integer(request, "start_ts"), _integer(request, "end_ts")
    now_end = int(now) + 1  # the window covers every delivery created before now
    if start_ts is None and end_ts is None:
        end_ts = now_end
        start_ts = end_ts - SIX_MONTHS_S
    elif end_ts is None:
        assert start_ts is not None
        # Up to now, or 6 months: a start after now is an empty window, not an error.
        end_ts = max(start_ts, min(now_end, start_ts + SIX_MONTHS_S))
    elif start_ts is None:
        start_ts = max(0, end_ts - SIX_MONTHS_S)
    elif end_ts <= start_ts:
        raise _BadQuery(f"end_ts ({end_ts}) must be after start_ts ({start_ts})")
    if end_ts - start_ts > SIX_MONTHS_S:
        days = (end_ts - start_ts) / 86_400
        raise _BadQuery(
            f"a request covers at most 6 months (183 days) of start_ts..end_ts; this one "
            f"covers {days:.0f} days: split it into windows of 6 months or less"
        )
    return start_ts, end_ts


def _query(request: Request) -> Query:
    kind = request.query_params.get("type") or None
    if kind is not None and kind not in CHANNEL_OF_TYPE:
        raise _BadQuery(f"type must be one of {', '.join(CHANNEL_OF_TYPE)}, not {kind!r}")
    return Query(
        channel=None if kind is None else CHANNEL_OF_TYPE[kind],
        metric=request.query_params.get("metric") or None,
        campaign_id=_integer(request, "campaign_id"),
        newsletter_id=_integer(request, "newsletter_id"),
        action_id=_integer(request, "action_id"),
    )


def messages_routes(workspace: Workspace, history: MessageHistory) -> list[Route]:
    behaviour = workspace.behaviour
    seed = workspace.seed

    async def messages(request: Request) -> Response:
        now = history.clock.now()
        now_ms = int(now * 1000)
        try:
            limit = parse_limit(request, DEFAULT_LIMIT)
            start_ts, end_ts = _window(request, now)
            query = _query(request)
        except ValueError as exc:  # _BadQuery, or parse_limit's
            return bad_request(str(exc))
        low, high = history.bounds(start_ts, end_ts, now_ms)
        start_text = request.query_params.get("start", "")
        upper = high
        if start_text:  # an empty `start=` reads as no cursor: the first page
            try:
                upper = cursor.decode(seed, CURSOR_TABLE, start_text)
                if not low <= upper <= high:
                    raise cursor.CursorError("out of this window")
            except cursor.CursorError:
                if not behaviour.messages_restart_on_bad_start:
                    return bad_request(f"invalid start cursor {start_text!r}")
                # Live (docs/customerio-behaviour.md): the walk starts over from the top.
                upper = high
        # ~45 ms for 1000 rows: off the event loop, so that other requests (429s, control
        # routes) are answered meanwhile.
        rows, following = await run_in_threadpool(history.page, upper, low, limit, now_ms, query)
        # Live: the last rows still carry a cursor, and it leads to one empty page.
        more = following > low or (bool(rows) and behaviour.trailing_empty_page)
        listed: list[Any] | None = rows
        if not rows and behaviour.empty_list_as_null:
            listed = None
        body: dict[str, Any] = {"messages": listed}
        if start_text and isinstance(request.scope.get(FAULT_SCOPE_KEY), RepeatCursor):
            body["next"] = start_text  # a cursor this client has already been given
        elif more:
            body["next"] = cursor.encode(seed, CURSOR_TABLE, following)
        else:
            end = workspace.fixed_cursor_end or "empty"
            if end != "missing":
                body["next"] = None if end == "null" else ""
        return JSONResponse(body)

    return [Route(MESSAGES_PATH, messages, methods=["GET"])]
