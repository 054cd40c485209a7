"""The JSON API under /api/v1: what the pages use, and what its OpenAPI document describes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from cio_warehouse.web.api import account, alerts, data, sources
from cio_warehouse.web.api.models import ErrorBody
from cio_warehouse.web.auth import api_user

PREFIX = "/api/v1"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input; `field` names the input at fault."},
    401: {"model": ErrorBody, "description": "No session and no valid bearer token."},
    403: {"model": ErrorBody, "description": "A session request without its CSRF token."},
    404: {"model": ErrorBody, "description": "No such source, table or job."},
    409: {"model": ErrorBody, "description": "In conflict with the current state."},
    502: {"model": ErrorBody, "description": "Customer.io did not answer in time; try again."},
}

router = APIRouter(prefix=PREFIX, dependencies=[Depends(api_user)], responses=_ERRORS)
router.include_router(account.router)
router.include_router(sources.router)
router.include_router(data.router)
router.include_router(alerts.router)
