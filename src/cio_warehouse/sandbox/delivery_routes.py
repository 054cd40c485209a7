"""Control routes for the webhook sender under /_sandbox/ (for a sandbox run as a subprocess)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cio_warehouse.sandbox.control import PREFIX
from cio_warehouse.sandbox.lanes import DEFAULT_STALE_BY_S, MODES
from cio_warehouse.sandbox.responses import JSONResponse, bad_request
from cio_warehouse.sandbox.sender import WebhookSender
from cio_warehouse.sandbox.webhooks import UnknownWebhook

_DEFAULT_LOG_LIMIT = 1_000


class _BadInput(ValueError):
    pass


def _number(body: dict[str, Any], name: str, kind: type[float] | type[int]) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not isinstance(value, int)):
        raise _BadInput(f"{name} must be a{'n integer' if kind is int else ' number'}")
    return value


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadInput("the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise _BadInput("send a JSON object")
    return body


def _snapshot(sender: WebhookSender, limit: int | None = None) -> dict[str, Any]:
    attempts = sender.log.attempts()
    if limit is not None:
        attempts = attempts[-limit:] if limit else []
    return {
        "streaming": sender.streaming,
        "stats": {str(hook): stats.to_json() for hook, stats in sender.stats().items()},
        "attempts": [attempt.to_json() for attempt in attempts],
    }


def delivery_routes(sender: WebhookSender) -> list[Route]:
    async def deliveries(request: Request) -> Response:
        try:
            if request.method == "GET":
                text = request.query_params.get("limit", str(_DEFAULT_LOG_LIMIT))
                if not text.isdigit():
                    raise _BadInput("limit must be a non-negative integer")
                return JSONResponse(_snapshot(sender, int(text)))
            if request.method == "DELETE":
                sender.stop_stream()
                return JSONResponse({"streaming": False})
            return await _start(await _json_object(request))
        except UnknownWebhook as exc:
            return _no_webhook(exc)
        except (_BadInput, ValueError) as exc:
            return bad_request(str(exc))

    async def _start(body: dict[str, Any]) -> Response:
        count = _number(body, "count", int)
        rate = _number(body, "rate", float)
        duration = _number(body, "duration", float)
        webhook_id = _number(body, "webhook_id", int)
        mode = body.get("mode", "normal")
        if mode not in MODES:
            raise _BadInput(f"mode must be one of {', '.join(MODES)}")
        if rate is not None:
            if mode != "normal":
                raise _BadInput("a stream (rate) sends in mode normal only")
            sender.stream(float(rate), duration_s=duration, count=count, webhook_id=webhook_id)
            return JSONResponse({"streaming": True})
        if duration is not None:
            raise _BadInput("duration needs a rate")
        stale_by = _number(body, "stale_by", float)
        events: Any = 1 if count is None else count
        if "events" in body:
            # Given event objects (e.g. the spec's examples), routed like generated ones.
            events = body["events"]
            if count is not None or not isinstance(events, list) or not all(
                    isinstance(event, dict) for event in events):
                raise _BadInput("events must be a list of event objects (and no count)")
        enqueued = sender.send(
            events, webhook_id=webhook_id, mode=mode,
            stale_by_s=DEFAULT_STALE_BY_S if stale_by is None else float(stale_by),
        )
        return JSONResponse(enqueued.to_json())

    async def wait(request: Request) -> Response:
        try:
            timeout = _number(await _json_object(request), "timeout", float)
        except _BadInput as exc:
            return bad_request(str(exc))
        deadline = time.monotonic() + (10.0 if timeout is None else float(timeout))
        # Polls on this loop without blocking it: the App API keeps answering meanwhile.
        while not sender.wait_delivered(0) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return JSONResponse({"delivered": sender.wait_delivered(0), **_snapshot(sender, 0)})

    async def retry_now(request: Request) -> Response:
        sender.retry_now()
        return JSONResponse({"ok": True})

    async def settings(request: Request) -> Response:
        try:
            if request.method == "PUT":
                body = await _json_object(request)
                sender.configure(timeout_s=_number(body, "timeout_s", float),
                                 time_scale=_number(body, "retry_time_scale", float))
        except (_BadInput, ValueError) as exc:
            return bad_request(str(exc))
        policy = sender.policy
        return JSONResponse({"timeout_s": policy.timeout_s,
                             "retry_time_scale": policy.time_scale})

    return [
        Route(PREFIX + "deliveries", deliveries, methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "deliveries/wait", wait, methods=["POST"]),
        Route(PREFIX + "deliveries/retry_now", retry_now, methods=["POST"]),
        Route(PREFIX + "sender", settings, methods=["GET", "PUT"]),
    ]


def _no_webhook(exc: UnknownWebhook) -> Response:
    return JSONResponse({"meta": {"error": f"no enabled reporting webhook {exc.args[0]}"}}, 404)
