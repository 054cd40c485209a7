"""The web app's HTML pages: server-rendered shells that plain JS modules (web/static/js) fill from
the JSON API (`/api/v1`), so every fact on a page comes from the same endpoints scripts use.

Forms are sent by those scripts; they still say method="post" so that a form sent without them
never puts a key in a URL (the server refuses such a post: it carries no CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cio_warehouse.ops.sources import catalog_view
from cio_warehouse.sources import check_name_format
from cio_warehouse.state import StateError
from cio_warehouse.warehouse import destination, query
from cio_warehouse.web.auth import page_user, principal_of
from cio_warehouse.web.login import LOGIN_ERRORS, safe_next
from cio_warehouse.web.security import csrf_token

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))

router = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False, dependencies=[Depends(page_user)])

WIZARD_STEPS = ("Credentials", "Webhook", "Tables")
REGION_CHOICES = tuple(catalog_view().regions)  # the API's catalog offers the same


def _render(request: Request, template: str, **context: Any) -> HTMLResponse:
    context.setdefault("nav", "")
    return templates.TemplateResponse(
        request, template, {"csrf_token": csrf_token(request), **context}
    )


def _source_name(name: str) -> str:
    """A page for a name that could never be a source is a 404, not a page that fails later."""
    try:
        return check_name_format(name)
    except StateError:
        raise HTTPException(status_code=404, detail="No such source.") from None


def _no_source(request: Request, name: str) -> HTMLResponse | None:
    """A source's pages for a source that is not there (removed, or a typo in the URL): a 404
    with the way back, not a page whose half-loaded form fails field by field."""
    store = request.app.state.service.store
    if name in store.source_names():
        return None
    return templates.TemplateResponse(
        request, "no_source.html",
        {"csrf_token": csrf_token(request), "nav": "sources", "title": "No such source",
         "source": name},
        status_code=404,
    )


@router.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The admin token form (web.login handles the POST, the one-time links and logout)."""
    next_path = safe_next(next)
    if principal_of(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _render(
        request, "login.html", title="Log in", next_path=next_path,
        error=LOGIN_ERRORS.get(error or ""),
    )


@pages.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/sources", status_code=303)


# Pages that are their template alone (their scripts fetch what they show): path, template,
# title, navigation tab.
_PLAIN_PAGES = (
    ("/sources", "sources.html", "Sources", "sources"),
    ("/sources/new", "new_source.html", "New source", "sources"),
    ("/settings", "settings.html", "Settings", "settings"),
)


def _plain_page(template: str, title: str, nav: str) -> Callable[[Request], HTMLResponse]:
    def page(request: Request) -> HTMLResponse:
        return _render(request, template, title=title, nav=nav)

    return page


for _path, _template, _title, _nav in _PLAIN_PAGES:
    pages.add_api_route(
        _path, _plain_page(_template, _title, _nav), methods=["GET"],
        response_class=HTMLResponse, name=_template.removesuffix(".html"),
    )


@pages.get("/data")
def data(request: Request) -> HTMLResponse:
    return _render(request, "data.html", title="Data", nav="data",
                   read_only_statements=query.READ_ONLY_STATEMENTS)


@pages.get("/sources/new/customerio")
def wizard_credentials(request: Request) -> HTMLResponse:
    return _render(
        request, "wizard_credentials.html", title="Link Customer.io", nav="sources",
        steps=WIZARD_STEPS, step=1, source=None, regions=REGION_CHOICES,
        default_destination=_default_destination(),
    )


def _default_destination() -> str:
    """The default's display masks any password: safe to put in the page."""
    try:
        return destination.for_new_source(None).display()
    except StateError as exc:
        return f"invalid ${destination.ENV_DESTINATION}: {exc}"


@pages.get("/sources/{name}/setup/webhook")
def wizard_webhook(request: Request, name: str) -> HTMLResponse:
    name = _source_name(name)
    if (missing := _no_source(request, name)) is not None:
        return missing
    return _render(
        request, "wizard_webhook.html", title="Webhook", nav="sources",
        steps=WIZARD_STEPS, step=2, source=name, auto_register=True,
    )


@pages.get("/sources/{name}/setup/tables")
def wizard_tables(request: Request, name: str) -> HTMLResponse:
    name = _source_name(name)
    if (missing := _no_source(request, name)) is not None:
        return missing
    return _render(
        request, "wizard_tables.html", title="Tables", nav="sources",
        steps=WIZARD_STEPS, step=3, source=name,
    )


@pages.get("/sources/{name}")
def source(request: Request, name: str) -> HTMLResponse:
    name = _source_name(name)
    if (missing := _no_source(request, name)) is not None:
        return missing
    return _render(request, "source.html", title=name, nav="sources", source=name)


@pages.get("/sources/{name}/settings")
def source_settings(request: Request, name: str) -> HTMLResponse:
    name = _source_name(name)
    if (missing := _no_source(request, name)) is not None:
        return missing
    return _render(
        request, "source_settings.html", title=f"{name} settings", nav="sources", source=name,
        regions=REGION_CHOICES,
    )


router.include_router(pages)
