"""Who may use the web app: the admin token (kept hashed), one-time login links, sessions."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cio_warehouse.state import StateError
from cio_warehouse.web.throttle import LoginThrottle, client_of, too_many_attempts

ENV_ADMIN_TOKEN = "CIO_WAREHOUSE_ADMIN_TOKEN"  # noqa: S105  (a variable name, not a secret)
# As long as what `secrets.token_urlsafe(32)` makes (43): a short one could be guessed.
MIN_ADMIN_TOKEN_CHARS = 32
SESSION_COOKIE = "cio_session"
SESSION_SECONDS = 12 * 3600
# A login link is printed to the terminal at each start: short-lived, so that scrollback or a
# shared screen recording is not a standing way in.
LOGIN_LINK_SECONDS = 3600
LOGIN_ONCE_PREFIX = "/login/once/"
# Reachable without a login: the login routes, and the static assets the login page needs.
PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIXES = (LOGIN_ONCE_PREFIX, "/static/")
# For programs, not browsers: without a login they get 401, never a redirect to the login page.
MACHINE_PREFIXES = ("/api/", "/metrics")

Clock = Callable[[], float]


def _digest(value: str) -> str:
    # A plain SHA-256 is enough: the tokens hashed here carry 256 random bits, so there is nothing
    # for a slow, salted hash to protect against (and bearer calls check it on every request).
    return hashlib.sha256(value.encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Principal:
    """Who made a request: a browser session, or a bearer token (the admin's or the CLI's)."""

    kind: Literal["session", "admin_token", "service_token"]
    session_id: str | None = None  # the session cookie's value: CSRF tokens are bound to it


def env_admin_token() -> str | None:
    """$CIO_WAREHOUSE_ADMIN_TOKEN without surrounding spaces, None when unset or blank; one
    shorter than MIN_ADMIN_TOKEN_CHARS is refused (`serve` does not start)."""
    token = os.environ.get(ENV_ADMIN_TOKEN, "").strip()
    if not token:
        return None
    if len(token) < MIN_ADMIN_TOKEN_CHARS:
        raise StateError(
            f"${ENV_ADMIN_TOKEN} is too short ({len(token)} characters, at least "
            f"{MIN_ADMIN_TOKEN_CHARS} are needed): make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`.'
        )
    return token


def load_or_create_admin_token(path: Path) -> tuple[str, str | None]:
    """The stored digest, and the clear token when it was created just now (to print once)."""
    try:
        return _read_digest(path), None
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    record = {"sha256": digest, "created_at": time.time()}
    try:
        # O_EXCL: two services starting at once must not each print a token that then fails.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_digest(path), None
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
        out.flush()
        os.fsync(out.fileno())
    return digest, token


def _read_digest(path: Path) -> str:
    try:
        digest = json.loads(path.read_text())["sha256"]
    except (ValueError, KeyError, TypeError):
        digest = None
    if not isinstance(digest, str) or len(digest) != 64:
        raise StateError(
            f"{path} is not a valid admin token file: delete it and start `cio-warehouse serve` "
            "again to get a new admin token."
        )
    return digest


class Auth:
    """Tokens, sessions and login links of one running web app (sessions live in memory: a
    restart logs everyone out, and `serve` prints a fresh login link)."""

    def __init__(
        self,
        token_file: Path,
        service_token: str,
        *,
        env_token: str | None = None,
        clock: Clock = time.time,
        session_seconds: float = SESSION_SECONDS,
    ) -> None:
        self.clock = clock
        self.session_seconds = session_seconds
        self.token_file = token_file
        self._service_digest = _digest(service_token)
        self._new_admin_token: str | None = None
        if env_token and env_token.strip():
            # The environment's token replaces the stored one; nothing is written for it.
            self._admin_digest = _digest(env_token.strip())
        else:
            self._admin_digest, self._new_admin_token = load_or_create_admin_token(token_file)
        self._lock = threading.Lock()
        self.throttle = LoginThrottle()  # failed logins per client: tokens and login links
        self._sessions: dict[str, float] = {}  # digest of the session id -> expires at
        self._links: dict[str, float] = {}  # digest of the nonce -> expires at

    def take_new_admin_token(self) -> str | None:
        """The admin token in clear, once, when this start created it; None ever after."""
        token, self._new_admin_token = self._new_admin_token, None
        return token

    def token_kind(self, given: str) -> Literal["admin_token", "service_token"] | None:
        digest = _digest(given.strip())
        if _same(digest, self._admin_digest):
            return "admin_token"
        if _same(digest, self._service_digest):
            return "service_token"
        return None

    def is_admin_token(self, given: str) -> bool:
        return self.token_kind(given) == "admin_token"

    # -- sessions --------------------------------------------------------------------------------

    def start_session(self) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v > now}
            self._sessions[_digest(session_id)] = now + self.session_seconds
        return session_id

    def session_valid(self, session_id: str) -> bool:
        with self._lock:
            expires = self._sessions.get(_digest(session_id))
            if expires is None:
                return False
            if expires <= self.clock():
                del self._sessions[_digest(session_id)]
                return False
            return True

    def session_expiry(self, session_id: str) -> float | None:
        with self._lock:
            return self._sessions.get(_digest(session_id))

    def end_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(session_id), None)

    # -- one-time login links ----------------------------------------------------------------

    def issue_login_link(self) -> str:
        """The path of a link that logs in once, within LOGIN_LINK_SECONDS."""
        nonce = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._links = {k: v for k, v in self._links.items() if v > now}
            self._links[_digest(nonce)] = now + LOGIN_LINK_SECONDS
        return LOGIN_ONCE_PREFIX + nonce

    def redeem_login_link(self, nonce: str) -> bool:
        with self._lock:
            expires = self._links.pop(_digest(nonce), None)
        return expires is not None and expires > self.clock()

    # -- requests ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Principal | None:
        """A bearer header, when given, is the only credential looked at (no cookie fallback:
        a request that names a wrong token is refused, whatever else it carries)."""
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            kind = self.token_kind(token)
            return None if kind is None else Principal(kind)
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id and self.session_valid(session_id):
            return Principal("session", session_id)
        return None


def auth_of(request: Request) -> Auth:
    auth = request.app.state.auth
    assert isinstance(auth, Auth)
    return auth


def principal_of(request: Request) -> Principal | None:
    """Set by AuthGate; worked out afresh where a route runs without it (a test app)."""
    if "principal" in request.scope.get("state", {}):
        found = request.state.principal
        return found if isinstance(found, Principal) else None
    return auth_of(request).authenticate(request)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def login_redirect(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": target})


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "Log in first: send the session cookie, or `Authorization: Bearer <token>` "
         "with the admin token or the service token."},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class AuthGate:
    """Deny by default: every route but the public ones needs a principal. Anonymous API calls
    (and any call with a wrong bearer token) get 401 JSON; anonymous page views go to /login."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        principal = self.auth.authenticate(request)
        if "authorization" in request.headers:
            # A bearer token is a login too: throttled like the form, or the form's limit
            # would be bypassed. The service token (the CLI's, random, new at each start) is
            # let through, so that failures from the same address never lock the CLI out.
            client = client_of(request)
            wait = self.auth.throttle.retry_after(client)
            if wait is not None and (principal is None or principal.kind != "service_token"):
                await too_many_attempts(request, wait)(scope, receive, send)
                return
            if principal is None:
                self.auth.throttle.failed(client)
        scope.setdefault("state", {})["principal"] = principal
        if principal is None and not is_public(request.url.path):
            response: Response
            if "authorization" in request.headers or request.url.path.startswith(
                    MACHINE_PREFIXES):
                response = unauthorized()
            else:
                response = RedirectResponse(login_redirect(request), status_code=303)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# -- dependencies for routes ---------------------------------------------------------------------


def page_user(request: Request) -> Principal:
    """For pages: the principal, or a redirect to the login page."""
    principal = principal_of(request)
    if principal is None:
        raise HTTPException(303, headers={"Location": login_redirect(request)})
    return principal


def api_user(request: Request) -> Principal:
    """For the JSON API: the principal, or 401."""
    principal = principal_of(request)
    if principal is None:
        raise HTTPException(401, "Log in first.", headers={"WWW-Authenticate": "Bearer"})
    return principal
