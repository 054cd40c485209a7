"""Who is calling: the kind of login, and the CSRF token scripts send with unsafe requests."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cio_warehouse.web.api import models
from cio_warehouse.web.auth import api_user, auth_of
from cio_warehouse.web.security import csrf_token

router = APIRouter()


@router.get("/session", response_model=models.SessionInfo)
def get_session(request: Request) -> models.SessionInfo:
    """A bearer caller needs no CSRF token: `csrf_token` is null for it."""
    principal = api_user(request)
    if principal.session_id is None:
        return models.SessionInfo(kind=principal.kind, csrf_token=None, expires_at=None)
    return models.SessionInfo(
        kind=principal.kind,
        csrf_token=csrf_token(request),
        expires_at=auth_of(request).session_expiry(principal.session_id),
    )
