"""Errors as `{"error": "<one sentence>", "field": "<input>"}`: 4xx for what the caller can fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cio_warehouse.customerio import CustomerIOError, TransientError
from cio_warehouse.ops.errors import OpsError, Refusal
from cio_warehouse.state import StateError
from cio_warehouse.warehouse.query import QueryError
from cio_warehouse.web.api.models import ErrorBody

_STATUS = {
    Refusal.INVALID: 400, Refusal.NOT_FOUND: 404, Refusal.CONFLICT: 409, Refusal.UNAVAILABLE: 503,
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None, **headers: str
                   ) -> JSONResponse:
    body = ErrorBody(error=message, field=field).model_dump()
    return JSONResponse(body, status_code=status, headers=headers or None)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors: list[dict[str, Any]] = list(exc.errors())
    if not errors:
        return "The request is not valid.", None
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = loc[0] if loc else None
    message = str(first.get("msg", "is not valid")).rstrip(".")
    message = message[:1].lower() + message[1:]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON.", None
    if not loc:
        return f"The request body is not valid: {message}.", None
    return f"Invalid `{'.'.join(loc)}`: {message}.", field


def install(app: FastAPI) -> None:
    """Every error the API raises, in one shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.field)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, field = _validation_message(exc)
        return error_response(400, message, field)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)  # pages: the usual answer
        detail = exc.detail if isinstance(exc.detail, str) else "The request failed."
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"Nothing at {request.url.path}: see the API's /api/v1/openapi.json."
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
        return error_response(exc.status_code, detail, **(exc.headers or {}))

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OpsError)
        return error_response(_STATUS[exc.kind], exc.message, exc.field)

    async def state_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(400, str(exc))

    async def customerio_error(request: Request, exc: Exception) -> JSONResponse:
        # Customer.io being down or slow is not the caller's mistake: 502, with what to do.
        status = 502 if isinstance(exc, TransientError) else 400
        return error_response(status, str(exc))

    async def disconnected(request: Request, exc: Exception) -> Response:
        # The client went away before its body arrived (a truncated request): nobody reads
        # this answer, and it is no server error worth a traceback in the log.
        return Response(status_code=400)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ClientDisconnect, disconnected)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    # Starlette looks a handler up along the MRO: an OpsError gets this one, not StateError's.
    app.add_exception_handler(OpsError, refused)
    app.add_exception_handler(StateError, state_error)
    app.add_exception_handler(QueryError, state_error)
    app.add_exception_handler(CustomerIOError, customerio_error)
