"""GET /metrics: the service's metrics in Prometheus' text format, for a bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from cio_warehouse.web.auth import api_user

PATH = "/metrics"

# The API's auth: the admin token or service.json's token as a bearer token (or a session);
# without one the AuthGate answers 401, as for the API, not a redirect to the login page.
router = APIRouter(include_in_schema=False, dependencies=[Depends(api_user)])


@router.get(PATH)
def metrics(request: Request) -> Response:
    # A plain def: FastAPI runs it in a worker thread, so the state store's and the inbox's
    # reads never block the event loop.
    registry = request.app.state.metrics
    assert isinstance(registry, CollectorRegistry)
    # As the library's own handlers do: OpenMetrics when the scraper asks for it (Prometheus
    # does), else the text format 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})
