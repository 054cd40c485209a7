"""The App API routes: workspaces, the ten list resources, reporting webhooks CRUD."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cio_warehouse.sandbox import cursor
from cio_warehouse.sandbox.faults import RepeatCursor
from cio_warehouse.sandbox.responses import JSONResponse, bad_request, not_found
from cio_warehouse.sandbox.state import SandboxState
from cio_warehouse.sandbox.tables import TABLES, TableSpec
from cio_warehouse.sandbox.webhooks import UnknownWebhook, WebhookError

# The fault the gate chose for this request, for the knobs a handler must act on itself.
FAULT_SCOPE_KEY = "cio_sandbox.fault"
DEFAULT_LIMIT = 100
# No maximum is published; the sandbox clamps at 1000 like most cursor APIs, silently.
MAX_LIMIT = 1000
_DIGITS = re.compile(r"[0-9]+")

Endpoint = Callable[[Request], Awaitable[Response]]


def parse_limit(request: Request, default: int) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or int(text) < 1:
        raise ValueError(f"limit must be a positive integer, not {text!r}")
    return min(int(text), MAX_LIMIT)


def _list_endpoint(state: SandboxState, spec: TableSpec) -> Endpoint:
    workspace = state.workspace
    behaviour = workspace.behaviour
    unpaged_size = behaviour.unpaged_page_size
    default_limit = DEFAULT_LIMIT if spec.paged else unpaged_size or DEFAULT_LIMIT

    async def unpaged(request: Request) -> Response:
        rows, _ = workspace.page(spec.name, 0, workspace.expected_rows(spec.name), hidden=True)
        return JSONResponse({spec.list_key: listed(rows)})

    def listed(rows: list[Any]) -> list[Any] | None:
        return None if not rows and behaviour.empty_list_as_null else rows

    async def paged(request: Request) -> Response:
        try:
            limit = parse_limit(request, default_limit)
        except ValueError as exc:
            return bad_request(str(exc))
        start_text = request.query_params.get("start", "")
        start = 0
        if start_text:  # an empty `start=` reads as no cursor: the first page
            try:
                start = cursor.decode(workspace.seed, spec.name, start_text)
            except cursor.CursorError:
                return bad_request(f"invalid start cursor {start_text!r}")
            if start > workspace.expected_rows(spec.name):
                return bad_request(f"invalid start cursor {start_text!r}")
        # customerio-api.md: sender_identities takes hidden=true to include hidden senders (docs);
        # live, it lists the hidden ones alone (docs/customerio-behaviour.md).
        flag = spec.name == "sender_identities" and (
            request.query_params.get("hidden", "").lower() == "true"
        )
        hidden = spec.name != "sender_identities" or flag
        only_hidden = flag and behaviour.hidden_senders == "live"
        rows, next_index = workspace.page(spec.name, start, limit, hidden, only_hidden)
        if next_index is None and rows and behaviour.trailing_empty_page:
            # Live: the last rows still carry a cursor, and it leads to one empty page.
            next_index = workspace.expected_rows(spec.name)
        body: dict[str, Any] = {spec.list_key: listed(rows)}
        if start_text and isinstance(request.scope.get(FAULT_SCOPE_KEY), RepeatCursor):
            body["next"] = start_text  # a cursor this client has already been given
        elif next_index is not None:
            body["next"] = cursor.encode(workspace.seed, spec.name, next_index)
        else:
            end = workspace.cursor_end(spec.name)
            if end != "missing":
                body["next"] = None if end == "null" else ""
        return JSONResponse(body)

    if spec.paged or unpaged_size is not None:
        return paged
    return unpaged


def _webhook_routes(state: SandboxState) -> list[Route]:
    store = state.webhooks

    async def body_of(request: Request) -> object:
        try:
            return orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise WebhookError("the body is not valid JSON") from exc

    async def listing(request: Request) -> Response:
        if request.method == "POST":
            try:
                return JSONResponse(store.create(await body_of(request)))
            except WebhookError as exc:
                return bad_request(str(exc))
        return JSONResponse({"reporting_webhooks": store.webhooks()})

    async def one(request: Request) -> Response:
        webhook_id: int = request.path_params["webhook_id"]
        try:
            if request.method == "GET":
                return JSONResponse(store.get(webhook_id))
            if request.method == "PUT":
                return JSONResponse(store.replace(webhook_id, await body_of(request)))
            store.delete(webhook_id)
            return Response(status_code=200)  # customerio-api.md: delete is 200 with no body
        except UnknownWebhook:
            return not_found()
        except WebhookError as exc:
            return bad_request(str(exc))

    return [
        Route("/v1/reporting_webhooks", listing, methods=["GET", "POST"]),
        Route("/v1/reporting_webhooks/{webhook_id:int}", one, methods=["GET", "PUT", "DELETE"]),
    ]


def api_routes(state: SandboxState) -> list[Route]:
    async def workspaces(request: Request) -> Response:
        return JSONResponse({"workspaces": [state.workspace.info()]})

    return [
        Route("/v1/workspaces", workspaces, methods=["GET"]),
        *(
            Route(spec.path, _list_endpoint(state, spec), methods=["GET"])
            for spec in TABLES.values()
        ),
        *_webhook_routes(state),
    ]
