"""The sandbox as one ASGI app: the gate in front of the App API and the control routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from cio_warehouse.sandbox.api import api_routes
from cio_warehouse.sandbox.control import control_routes
from cio_warehouse.sandbox.delivery_routes import delivery_routes
from cio_warehouse.sandbox.gate import Gate, install_log_filter
from cio_warehouse.sandbox.history import MessageHistory
from cio_warehouse.sandbox.history_routes import messages_routes
from cio_warehouse.sandbox.responses import JSONResponse
from cio_warehouse.sandbox.sender import WebhookSender
from cio_warehouse.sandbox.state import SandboxState


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths (and wrong methods) answer JSON, not Starlette's plain text.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = exc.detail if isinstance(exc, HTTPException) else "Internal Server Error"
    return JSONResponse({"meta": {"error": message}}, status)


def build_app(
    state: SandboxState, sender: WebhookSender | None = None,
    history: MessageHistory | None = None,
) -> ASGIApp:
    install_log_filter()
    senders = delivery_routes(sender) if sender is not None else []
    messages = messages_routes(state.workspace, history) if history is not None else []
    inner = Starlette(
        routes=[*control_routes(state), *senders, *api_routes(state), *messages],
        exception_handlers={HTTPException: _http_error},
    )
    return Gate(inner, state)
