"""Security headers on every response, and CSRF tokens checked on every state-changing request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cio_warehouse.web.auth import principal_of

CSRF_FIELD = "csrf_token"  # noqa: S105  (a form field's name)
CSRF_HEADER = "x-csrf-token"
# Before login there is no session to bind a token to: this cookie stands in for it
# (double submit: a page on another site can neither read it nor the token made from it).
PRESESSION_COOKIE = "cio_presession"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_BYTES = 1 << 20

SECURITY_HEADERS = {
    # No inline script or style, nothing from another origin (no CDN), no framing, no plugins.
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


class CsrfSigner:
    """CSRF token = HMAC(per-process key, session id): nothing to store, dies with the session."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def token(self, binding: str) -> str:
        return hmac.new(self._key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()

    def valid(self, binding: str | None, given: str | None) -> bool:
        if not binding or not given:
            return False
        return hmac.compare_digest(self.token(binding).encode(), given.encode())


def _binding(request: Request) -> str | None:
    principal = principal_of(request)
    if principal is not None and principal.session_id is not None:
        return principal.session_id
    return request.cookies.get(PRESESSION_COOKIE) or request.scope.get("state", {}).get(
        "new_presession"
    )


def csrf_token(request: Request) -> str:
    """For templates: the hidden `csrf_token` field of forms, and X-CSRF-Token for scripts."""
    binding = _binding(request)
    if binding is None:
        # First visit (the login page): CsrfGuard sets this cookie on the response.
        binding = secrets.token_urlsafe(32)
        request.scope.setdefault("state", {})["new_presession"] = binding
    signer = request.app.state.csrf
    assert isinstance(signer, CsrfSigner)
    return signer.token(binding)


def _wants_json(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


class CsrfGuard:
    """Refuses (403) unsafe requests that carry no valid CSRF token, unless they authenticate
    with a bearer token (a browser on another site cannot send an Authorization header)."""

    def __init__(self, app: ASGIApp, signer: CsrfSigner) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._setting_presession(scope, send)
        request = Request(scope, receive)
        principal = principal_of(request)
        bearer = principal is not None and principal.session_id is None
        if scope["method"] not in UNSAFE_METHODS or bearer:
            await self.app(scope, receive, send)
            return
        given = request.headers.get(CSRF_HEADER)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if given is None and content_type in FORM_TYPES:
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("The form is too large.", status_code=413)(
                    scope, receive, send
                )
                return
            try:
                form = await Request(scope, _replay(body, receive)).form()
                field = form.get(CSRF_FIELD)
            except Exception:  # noqa: BLE001  an unparsable form carries no token: refused below
                field = None
            receive = _replay(body, receive)
            given = field if isinstance(field, str) else None
        if not self.signer.valid(_binding(request), given):
            await _refusal(scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _setting_presession(self, scope: Scope, send: Send) -> Send:
        async def sending(message: Message) -> None:
            new = scope.get("state", {}).get("new_presession")
            if message["type"] == "http.response.start" and new:
                cookie: SimpleCookie = SimpleCookie()
                cookie[PRESESSION_COOKIE] = new
                cookie[PRESESSION_COOKIE]["path"] = "/"
                cookie[PRESESSION_COOKIE]["httponly"] = True
                cookie[PRESESSION_COOKIE]["samesite"] = "Strict"
                if scope.get("scheme") == "https":
                    cookie[PRESESSION_COOKIE]["secure"] = True
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", cookie.output(header="").strip())
            await send(message)

        return sending


def _refusal(scope: Scope) -> Response:
    message = (
        "Refused: the request carries no valid CSRF token. Reload the page and try again "
        "(scripts send the page's token as the X-CSRF-Token header)."
    )
    if _wants_json(scope):
        return JSONResponse({"error": message}, status_code=403)
    return PlainTextResponse(message, status_code=403)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the client's own messages (a disconnect, when it comes)."""
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying


class SecurityHeaders:
    """The headers every response carries; API and page responses are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not static:
                    # Responses may hold warehouse data: no copy in a shared or browser cache.
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, sending)
