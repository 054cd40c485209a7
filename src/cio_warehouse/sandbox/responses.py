"""Response helpers: fast JSON, and error bodies in the several shapes Customer.io uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import PlainTextResponse, Response

from cio_warehouse.sandbox.rng import stable_key


class JSONResponse(Response):
    """orjson: a page of 1,000 rows encodes in well under a millisecond."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int, message: str, *, seed: int, path: str, headers: Mapping[str, str] | None = None,
) -> Response:
    """An error in one of the shapes the real API returns, fixed per (seed, path).

    customerio-api.md: error bodies vary ({"meta":{"error":...}}, {"errors":[{"detail":...}]},
    text), so clients must branch on the status code and treat the body as opaque text.
    """
    style = stable_key("cio-sandbox-error", seed, path) % 3
    if style == 0:
        return JSONResponse({"meta": {"error": message}}, status, headers)
    if style == 1:
        errors = [{"detail": message, "status": str(status)}]
        return JSONResponse({"errors": errors}, status, headers)
    return PlainTextResponse(message, status, headers)


def server_error_response(status: int) -> Response:
    """5xx answers: gateways (502/504) answer HTML, the application JSON."""
    if status in (502, 504):
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Response(html, status, media_type="text/html")
    return JSONResponse({"meta": {"error": "Internal server error, please try again"}}, status)


def not_found() -> Response:
    return JSONResponse({"meta": {"error": "Not Found"}}, 404)


def bad_request(message: str) -> Response:
    return JSONResponse({"meta": {"error": message}}, 400)
