"""The Host names the web app answers to: a page on another site cannot reach it by DNS
rebinding (a name of the attacker's that resolves to this machine), as the browser sends that
name, which is not on the list."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cio_warehouse.state import StateError

ENV_ALLOWED_HOSTS = "CIO_WAREHOUSE_ALLOWED_HOSTS"
# Always allowed: names an attacker's page cannot make a browser send to this machine.
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104  (names, not a bind)
# A DNS name, optionally `*.`-prefixed (Starlette's only wildcard form), or `*` alone: any.
_NAME = re.compile(r"^(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$")


def host_pattern(host: str) -> str:
    """A host as the Host header carries it: lowercase, an IPv6 literal in brackets."""
    bare = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return host.strip().lower()
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def parse_allowed_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """The hosts of `serve --allowed-host` and $CIO_WAREHOUSE_ALLOWED_HOSTS (commas or spaces
    between them): names, IP addresses, `*.example.com`, or `*` (any Host: no check)."""
    found: list[str] = []
    for value in values:
        for item in re.split(r"[,\s]+", value.strip()):
            if not item:
                continue
            pattern = host_pattern(item)
            if not (pattern.startswith("[") or _NAME.match(pattern)):
                raise StateError(
                    f"{item!r} is not a host name for --allowed-host or ${ENV_ALLOWED_HOSTS}: "
                    "give names such as cio.example.com or *.example.com, without scheme or port."
                )
            if pattern not in found:
                found.append(pattern)
    return tuple(found)


class AllowedHosts:
    """127.0.0.1, localhost and ::1; the host `serve` binds (the CLI's URL in service.json
    names it, 0.0.0.0 included); the hosts named with --allowed-host; and the host of the
    public base URL setting, read at each call: it can change in Settings while the app runs."""

    def __init__(
        self, bind_host: str, named: Sequence[str], public_base_url: Callable[[], str | None]
    ) -> None:
        fixed = [*LOOPBACK, host_pattern(bind_host), *named]
        self._fixed = tuple(dict.fromkeys(fixed))
        self._public_base_url = public_base_url

    def current(self) -> tuple[str, ...]:
        try:
            url = self._public_base_url()
        except StateError:  # an unreadable settings file: Settings and the API say why
            url = None
        host = urlsplit(url).hostname if url else None
        if not host or host_pattern(host) in self._fixed:
            return self._fixed
        return (*self._fixed, host_pattern(host))


class TrustedHosts(TrustedHostMiddleware):
    """Starlette's Host check (400 for any other Host), with the list read afresh for each
    request from AllowedHosts."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts) -> None:
        super().__init__(app, hosts.current(), www_redirect=False)
        self._hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            # Read synchronously by the parent before its first await: no request sees
            # another's list.
            allowed = self._hosts.current()
            self.allowed_hosts = list(allowed)
            self.allow_any = "*" in allowed
        await super().__call__(scope, receive, send)
