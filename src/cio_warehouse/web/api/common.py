"""What every API route needs: the running service and the web settings."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Path, Request
from pydantic import BaseModel

from cio_warehouse.ops.ports import RunningService
from cio_warehouse.web.settings import WebSettings

Model = TypeVar("Model", bound=BaseModel)


def service_of(request: Request) -> RunningService:
    return cast(RunningService, request.app.state.service)


def settings_of(request: Request) -> WebSettings:
    settings = request.app.state.settings
    assert isinstance(settings, WebSettings)
    return settings


ServiceDep = Annotated[RunningService, Depends(service_of)]
SettingsDep = Annotated[WebSettings, Depends(settings_of)]
SourceName = Annotated[str, Path(description="The source's name (its SQL schema).")]


def view(model: type[Model], found: Any) -> Model:
    """An operation's dataclass (ops/) as the API's model of the same fields."""
    return model.model_validate(asdict(found))
