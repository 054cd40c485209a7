"""The web app of a running service: JSON API, login, pages and static assets, behind the
security headers, the login gate and the CSRF check."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from cio_warehouse.ops.metrics import metrics_registry
from cio_warehouse.ops.ports import RunningService
from cio_warehouse.web import api, login, metrics
from cio_warehouse.web.api import errors
from cio_warehouse.web.auth import Auth, AuthGate, env_admin_token
from cio_warehouse.web.hosts import AllowedHosts, TrustedHosts
from cio_warehouse.web.security import CsrfGuard, CsrfSigner, SecurityHeaders
from cio_warehouse.web.settings import WebSettings

STATIC_DIR = Path(__file__).with_name("static")
OPENAPI_URL = f"{api.PREFIX}/openapi.json"
DESCRIPTION = (
    "The JSON API of cio-warehouse's web app. Authenticate with the session cookie (and the "
    "X-CSRF-Token header on POST, PUT, PATCH and DELETE) or with `Authorization: Bearer` and the "
    "admin token or the service token from service.json. Errors are "
    '`{"error": "<one sentence>", "field": "<input at fault>"}`.'
)


def _version() -> str:
    try:
        return version("cio-warehouse")
    except PackageNotFoundError:
        return "0"


def _pages_router() -> APIRouter | None:
    """The frontend's pages (web/pages.py), when they are there."""
    try:
        pages = importlib.import_module("cio_warehouse.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name != "cio_warehouse.web.pages":
            raise
        return None
    router = getattr(pages, "router", None)
    return router if isinstance(router, APIRouter) else None


def create_web_app(service: RunningService) -> FastAPI:
    app = FastAPI(
        title="cio-warehouse",
        version=_version(),
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        # The interactive docs load their assets from a CDN; the document alone is served.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    auth = Auth(service.data_dir.admin_token_file, service.token, env_token=env_admin_token())
    signer = CsrfSigner()
    settings = WebSettings(service.data_dir.web_settings, lambda: service.receiver_url)
    hosts = AllowedHosts(service.settings.host, service.settings.allowed_hosts,
                         settings.configured_public_base_url)
    app.state.service = service
    app.state.auth = auth
    app.state.csrf = signer
    app.state.settings = settings
    app.state.metrics = metrics_registry(service)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(metrics.router)
    app.include_router(login.router)
    pages = _pages_router()
    if pages is not None:
        app.include_router(pages, include_in_schema=False)
    app.include_router(login.fallback_router)  # after the pages: their /login page wins
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The last added runs first: headers on every answer, then the Host check, the login gate
    # (and its throttle), then CSRF.
    app.add_middleware(CsrfGuard, signer=signer)
    app.add_middleware(AuthGate, auth=auth)
    app.add_middleware(TrustedHosts, hosts=hosts)
    app.add_middleware(SecurityHeaders)
    return app


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    # Validation errors answer 400 in the API's error shape (errors.install), never 422.
    for path in document.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "The admin token, or the service token from service.json."},
        "session": {"type": "apiKey", "in": "cookie", "name": "cio_session"},
    }
    document["security"] = [{"bearer": []}, {"session": []}]
    return document


def login_details(app: FastAPI) -> tuple[str | None, str]:
    """For `serve` to print: the admin token if this start created it (else None), and the path
    of a fresh one-time login link."""
    auth = app.state.auth
    assert isinstance(auth, Auth)
    return auth.take_new_admin_token(), auth.issue_login_link()
