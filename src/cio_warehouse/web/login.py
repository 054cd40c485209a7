"""The login routes: the admin token form, one-time links, logout (and a bare login form)."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cio_warehouse.web.auth import SESSION_COOKIE, auth_of, principal_of
from cio_warehouse.web.security import csrf_token
from cio_warehouse.web.throttle import client_of, too_many_attempts

router = APIRouter(include_in_schema=False)

LOGIN_ERRORS = {
    "invalid": "That is not the admin token.",
    "link": "That login link was used already or has expired: log in with the admin token, or "
    "restart `cio-warehouse serve` for a new link.",
}


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://host` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(auth_of(request).session_seconds),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """The login form: token and next (its csrf_token was checked by CsrfGuard already)."""
    form = await request.form()
    token, target = form.get("token"), form.get("next")
    next_path = safe_next(target if isinstance(target, str) else None)
    auth = auth_of(request)
    client = client_of(request)
    # Checked before the token: while throttled, a right guess must look like a wrong one.
    wait = auth.throttle.retry_after(client)
    if wait is not None:
        return too_many_attempts(request, wait)
    if not isinstance(token, str) or not auth.is_admin_token(token):
        auth.throttle.failed(client)
        query = urlencode({"error": "invalid", "next": next_path})
        return RedirectResponse(f"/login?{query}", status_code=303)
    response = RedirectResponse(next_path, status_code=303)
    _set_session_cookie(request, response, auth.start_session())
    return response


@router.get("/login/once/{nonce}")
def login_once(nonce: str, request: Request) -> Response:
    auth = auth_of(request)
    client = client_of(request)
    wait = auth.throttle.retry_after(client)
    if wait is not None:
        return too_many_attempts(request, wait)
    if not auth.redeem_login_link(nonce):
        auth.throttle.failed(client)
        return RedirectResponse("/login?error=link", status_code=303)
    response = RedirectResponse("/", status_code=303)
    _set_session_cookie(request, response, auth.start_session())
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    principal = principal_of(request)
    if principal is not None and principal.session_id is not None:
        auth_of(request).end_session(principal.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


# A bare login form, for when web.pages brings no /login page of its own.
_FALLBACK_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in - cio-warehouse</title></head>
<body><main><h1>cio-warehouse</h1>{message}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label>Admin token <input type="password" name="token" autocomplete="current-password"
 required autofocus></label>
<button type="submit">Log in</button>
</form>
<p>The first <code>cio-warehouse serve</code> printed the admin token; each start also prints a
one-time login link.</p></main></body></html>
"""

fallback_router = APIRouter(include_in_schema=False)


@fallback_router.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:
    next_path = safe_next(next)
    if principal_of(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    message = LOGIN_ERRORS.get(error or "")
    return HTMLResponse(
        _FALLBACK_LOGIN.format(
            message=f'<p role="alert">{html.escape(message)}</p>' if message else "",
            csrf=html.escape(csrf_token(request)),
            next=html.escape(next_path),
        )
    )
