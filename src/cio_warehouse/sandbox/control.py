"""Control routes under /_sandbox/ (no auth; a real Customer.io has none of these)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cio_warehouse.sandbox.faults import FaultError, fault_from_json
from cio_warehouse.sandbox.responses import JSONResponse, bad_request, not_found
from cio_warehouse.sandbox.state import SandboxState
from cio_warehouse.sandbox.webhooks import UnknownWebhook

PREFIX = "/_sandbox/"


def control_routes(state: SandboxState) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                knobs = orjson.loads(await request.body())
                if not isinstance(knobs, list):
                    raise FaultError("send a JSON list of fault knobs")
                state.set_faults([fault_from_json(knob) for knob in knobs])
            except (orjson.JSONDecodeError, FaultError) as exc:
                return bad_request(str(exc))
        elif request.method == "DELETE":
            state.faults.clear()
        return JSONResponse({"faults": state.faults.snapshot()})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            state.log.clear()
            return JSONResponse({"requests": []})
        return JSONResponse({"requests": [entry.to_json() for entry in state.log.entries()]})

    async def signing_key(request: Request) -> Response:
        # Plays the user who copies the key from Customer.io's Reporting Webhooks page.
        try:
            key = state.webhooks.signing_key(request.path_params["webhook_id"])
        except UnknownWebhook:
            return not_found()
        return JSONResponse({"signing_key": key})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body())
                if not isinstance(body, dict) or len(body.keys() & {"advance_s", "now"}) != 1:
                    raise ValueError('send {"advance_s": seconds} or {"now": unix seconds}')
                value = body.get("advance_s", body.get("now"))
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("the value must be a number")
                if "now" in body:
                    state.clock.set(float(value))
                else:
                    state.clock.advance(float(value))
            except ValueError as exc:  # orjson.JSONDecodeError is one
                return bad_request(str(exc))
        return JSONResponse({"now": state.clock.now()})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return [
        Route(PREFIX + "faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "requests", requests, methods=["GET", "DELETE"]),
        Route(PREFIX + "reporting_webhooks/{webhook_id:int}/signing_key", signing_key,
              methods=["GET"]),
        Route(PREFIX + "clock", clock, methods=["GET", "POST"]),
        Route(PREFIX + "health", health, methods=["GET"]),
    ]
