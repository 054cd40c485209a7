"""What every API route needs: the running service, the web settings, a known source."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Path, Request

from cio_warehouse.service.runtime import Service
from cio_warehouse.state import SourceConfig
from cio_warehouse.warehouse.query import QueryError
from cio_warehouse.warehouse.readers import SqlCursor, WarehouseUnavailable
from cio_warehouse.web.api.errors import ApiError
from cio_warehouse.web.settings import WebSettings


def service_of(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


def settings_of(request: Request) -> WebSettings:
    settings = request.app.state.settings
    assert isinstance(settings, WebSettings)
    return settings


ServiceDep = Annotated[Service, Depends(service_of)]
SettingsDep = Annotated[WebSettings, Depends(settings_of)]
SourceName = Annotated[str, Path(description="The source's name (its SQL schema).")]


def known_source(service: Service, name: str) -> SourceConfig:
    """The source, or 404 (the store's own error would be a 400)."""
    if name not in service.store.source_names():
        known = ", ".join(service.store.source_names()) or "none yet"
        raise ApiError(404, f"No source named {name!r} (known: {known}).")
    return service.store.get_source(name)


@contextmanager
def warehouse_cursor(service: Service, source: str | None = None) -> Iterator[SqlCursor]:
    """A cursor on `source`'s warehouse (else the shared one); 503 when it cannot be reached."""
    try:
        cursor = service.warehouse.cursor(source)
    except WarehouseUnavailable as exc:
        raise ApiError(503, str(exc)) from None
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        yield cursor
    finally:
        cursor.close()
