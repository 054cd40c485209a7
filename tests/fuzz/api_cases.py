"""Requests for the JSON API (and the login, pages and assets around it): every route with
anonymous, wrongly authenticated and authenticated callers, bodies that are bad JSON, of the
wrong types, huge, not UTF-8 or truncated, odd methods, paths, headers and query strings.

What the app promises (README, web/auth.py, web/security.py): anything but the login routes and
static assets needs a session or a bearer token (401 JSON under /api/, a redirect for pages),
and a session's unsafe request needs its CSRF token (403).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.fuzz import mutate
from tests.fuzz.corpus import JSON, TEXT, body_of, encode
from tests.fuzz.wire import Case, Header, request

SOURCE = "acme"
UNSAFE = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})
# The authenticated calls come from an address of their own: fuzzed logins fail from 127.0.0.1
# all the time, and past 10 a minute its logins (bearer calls too) get 429 (web/throttle.py).
# uvicorn takes the client from X-Forwarded-For when the peer is 127.0.0.1, as from a proxy.
AUTHENTICATED_CLIENT = (b"x-forwarded-for", b"192.0.2.1")
TABLES = ("campaigns", "segments", "email_events", "customer_events", "nope")


@dataclass(frozen=True)
class Route:
    method: bytes
    path: str  # {name}, {job_id}, {source}, {table} are filled per request
    query: tuple[str, ...] = ()
    body: dict[str, st.SearchStrategy[Any]] | None = None  # the model's fields
    template: dict[str, Any] | None = None  # a valid body, to reach past validation


def _keys() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[ -~]{1,60}\Z") | TEXT


def routes(closed_url: str, signing_key: str) -> tuple[Route, ...]:
    """The API's routes as data (web/api/*.py), with a valid body for each unsafe one."""
    tables = st.lists(st.sampled_from(TABLES) | TEXT, max_size=5)
    return (
        Route(b"GET", "/api/v1/session"),
        Route(b"GET", "/api/v1/catalog"),
        Route(b"GET", "/api/v1/health"),
        Route(b"GET", "/api/v1/settings"),
        Route(b"GET", "/api/v1/openapi.json"),
        Route(b"GET", "/api/v1/sources"),
        Route(b"GET", "/api/v1/sources/{name}"),
        Route(b"GET", "/api/v1/sources/{name}/tables"),
        Route(b"GET", "/api/v1/sources/{name}/runs", ("table", "limit")),
        Route(b"GET", "/api/v1/sources/{name}/webhook"),
        Route(b"GET", "/api/v1/sources/{name}/activity", ("days",)),
        Route(b"GET", "/api/v1/sources/{name}/funnels", ("kind", "limit")),
        Route(b"GET", "/api/v1/jobs/{job_id}"),
        Route(b"GET", "/api/v1/warehouse/tables", ("source",)),
        Route(b"GET", "/api/v1/warehouse/tables/{source}/{table}", ("limit",)),
        Route(b"POST", "/api/v1/sources/check-key",
              body={"region": st.sampled_from(("us", "eu", "US ", "mars")),
                    "app_api_key": _keys(), "api_base_url": st.just(closed_url) | TEXT},
              template={"region": "us", "app_api_key": "sbx_fuzz_check",
                        "api_base_url": closed_url}),
        Route(b"POST", "/api/v1/sources",
              body={"name": st.from_regex(r"\A[a-z][a-z0-9_]{0,70}\Z") | TEXT,
                    "region": st.sampled_from(("us", "eu")), "app_api_key": _keys(),
                    "api_base_url": st.just(closed_url) | TEXT, "tables": tables,
                    "frequency_seconds": st.integers()},
              template={"name": "fuzz_new", "region": "eu", "app_api_key": "sbx_fuzz_new",
                        "api_base_url": closed_url, "tables": ["campaigns"],
                        "frequency_seconds": 3600}),
        Route(b"PATCH", "/api/v1/sources/{name}",
              body={"region": st.sampled_from(("us", "eu")), "app_api_key": _keys(),
                    "api_base_url": st.just("") | st.just(closed_url) | TEXT, "tables": tables,
                    "frequency_seconds": st.integers(),
                    "table_frequencies": st.dictionaries(st.sampled_from(TABLES) | TEXT,
                                                         st.none() | st.integers())},
              template={"frequency_seconds": 21600,
                        "table_frequencies": {"campaigns": 3600, "segments": None},
                        "tables": ["email_events", "customer_events"]}),
        Route(b"DELETE", "/api/v1/sources/{name}"),
        Route(b"POST", "/api/v1/sources/{name}/webhook/register",
              body={"public_base_url": st.just("https://fuzz.example.com") | TEXT},
              template={"public_base_url": "https://fuzz.example.com"}),
        Route(b"PUT", "/api/v1/sources/{name}/webhook/signing-key",
              body={"signing_key": _keys()}, template={"signing_key": signing_key}),
        Route(b"POST", "/api/v1/sources/{name}/sync", body={"tables": tables},
              template={"tables": ["campaigns"]}),
        Route(b"POST", "/api/v1/query",
              body={"sql": st.sampled_from(("select 1", "select * from acme.campaigns"))
                    | TEXT, "max_rows": st.integers()},
              template={"sql": "select 'fuzz' as a, 1 as b", "max_rows": 10}),
        Route(b"PUT", "/api/v1/settings",
              body={"public_base_url": st.none() | st.just("https://fuzz.example.com") | TEXT},
              template={"public_base_url": "https://fuzz.example.com"}),
        # Around the API: the login routes, the pages and the assets.
        Route(b"GET", "/login", ("next", "error")),
        Route(b"POST", "/login"),
        Route(b"POST", "/logout"),
        Route(b"GET", "/login/once/{job_id}"),
        Route(b"GET", "/"),
        Route(b"GET", "/sources/{name}"),
        Route(b"GET", "/sources/{name}/settings"),
        Route(b"GET", "/sources/new/customerio"),
        Route(b"GET", "/data"),
        Route(b"GET", "/static/css/app.css"),
        Route(b"GET", "/static/{name}"),
    )


def _is_public(target: bytes) -> bool:
    path = target.split(b"?")[0].split(b"#")[0]
    return path == b"/login" or path.startswith((b"/login/once/", b"/static/"))


@dataclass(frozen=True)
class Callers:
    """The credentials of the authenticated callers (a login made before the run)."""

    admin_token: str
    session: str  # the cio_session cookie
    csrf: str  # that session's CSRF token


@dataclass
class ApiFuzz:
    rng: random.Random
    routes: tuple[Route, ...]
    bodies: dict[str, list[bytes]]  # per route path: Hypothesis-drawn bodies, encoded
    callers: Callers

    # -- one request -----------------------------------------------------------------------------

    def cases(self, total: int) -> Iterator[Case]:
        modes: list[tuple[float, Callable[[], Case]]] = [
            (30, lambda: self._routed("bearer")),
            (14, lambda: self._routed("session")),
            (12, lambda: self._routed("anonymous")),
            (7, lambda: self._routed("bad-bearer")),
            (4, lambda: self._routed("forged-session")),
            (7, lambda: self._routed("session-no-csrf")),
            (7, lambda: self._routed("session-bad-csrf")),
            (5, self._odd_method),
            (5, self._odd_target),
            (5, self._odd_headers),
            (4, self._bad_framing),
        ]
        weights = [w for w, _ in modes]
        for _ in range(total):
            yield self.rng.choices(modes, weights)[0][1]()

    def _routed(self, mode: str) -> Case:
        route = self.rng.choice(self.routes)
        if mode == "session" and route.path == "/logout":
            mode = "session-bad-csrf"  # a valid logout would end the session the run uses
        target = self._target(route, mode)
        body, content_type = self._body(route) if route.method in UNSAFE else (b"", None)
        headers = self._auth(mode, target)
        if content_type is not None:
            headers.append((b"content-type", content_type))
        return self._case(route.method, target, headers, body, mode)

    def _case(self, method: bytes, target: bytes, headers: list[Header], body: bytes,
              mode: str, *, label: str | None = None) -> Case:
        truncated = method in UNSAFE and body and self.rng.random() < 0.03
        raw = request(method, target, headers, body,
                      content_length=len(body) + 50 if truncated else len(body))
        return Case(raw, label or mode, head=method == b"HEAD", fresh=bool(truncated),
                    half_close=bool(truncated), no_answer_ok=bool(truncated),
                    allowed=_allowed(mode, method, target))

    def _auth(self, mode: str, target: bytes = b"") -> list[Header]:
        c = self.callers
        session = (b"cookie", b"cio_session=" + c.session.encode())
        if mode == "bearer":
            bearer = (b"authorization", b"Bearer " + c.admin_token.encode())
            # A login route fails (a made-up link): from 127.0.0.1, not the bearer's address.
            return [bearer] if _is_public(target) else [bearer, AUTHENTICATED_CLIENT]
        if mode == "session":
            return [session, (b"x-csrf-token", c.csrf.encode())]
        if mode == "session-no-csrf":
            return [session]
        if mode == "session-bad-csrf":
            bad = self.rng.choice((c.csrf[:-1].encode(), c.csrf.upper().encode(), b"",
                                   c.csrf.encode() + b"0", c.admin_token.encode(),
                                   _visible(mutate.mutate(self.rng, c.csrf.encode()))))
            return [session, (b"x-csrf-token", b"" if bad == c.csrf.encode() else bad)]
        if mode == "forged-session":
            forged = self.rng.choice((c.session[:-1], c.session + "x", "", "a" * 5000,
                                      self.rng.randbytes(32).hex()))
            return [(b"cookie", b"cio_session=" + forged.encode())]
        if mode == "bad-bearer":
            value = self.rng.choice((
                b"Bearer " + c.admin_token[:-1].encode(), b"Bearer", b"Bearer ", b"bearer  ",
                b"Basic " + c.admin_token.encode(), b"Bearer " + c.csrf.encode(),
                b"Bearer " + b"x" * 10_000, b"Token " + c.admin_token.encode(),
                b"Bearer \xff\xfe", c.admin_token.encode(),
            ))
            return [(b"authorization", value),
                    (b"cookie", b"cio_session=" + c.session.encode())]  # never a fallback
        return []

    # -- the parts of a request --------------------------------------------------------------

    def _target(self, route: Route, mode: str) -> bytes:
        protected = mode in ("bearer", "session")
        names = [SOURCE, SOURCE, SOURCE, "nope", "ACME", "a" * 300, "acme'--", 'a"b', "%00",
                 "%ff", quote("ünï"), "..", "acme%2F..", "_dlt_loads", "main"]
        if route.method == b"DELETE" and protected:
            names = [n for n in names if n != SOURCE]  # keep the source the run works with
        fill = {
            "name": self.rng.choice(names),
            "job_id": self.rng.choice(("1", "0", "-1", "9" * 40, "abc", "1.5", "%20")),
            "source": self.rng.choice((SOURCE, "main", "information_schema", 'x"y', "%27")),
            "table": self.rng.choice((*TABLES, "_dlt_loads", "a'b", 'a"; drop table x; --')),
        }
        path = route.path.format(**fill)
        query = [(name, self._query_value()) for name in route.query if self.rng.random() < 0.6]
        if self.rng.random() < 0.1:
            query.append((self.rng.choice(("limit", "x", "", "a[]")), self._query_value()))
        target = path.encode()
        if query:
            target += b"?" + urlencode(query).encode()
        if self.rng.random() < 0.03:
            target += self.rng.choice((b"?%ff%fe=%c0", b"?a=%", b"?&&==&", b"?\xff=1",
                                       b"?limit=1&limit=2", b"#frag"))
        return target

    def _query_value(self) -> str:
        return self.rng.choice(("1", "0", "-1", "20", "1001", "abc", "1e3", "9" * 30, "",
                                "campaign", "nope", "campaigns", "ünï", "\x00", "' or 1=1 --"))

    def _body(self, route: Route) -> tuple[bytes, bytes | None]:
        json_type = b"application/json"
        pick = self.rng.random()
        drawn = self.bodies.get(route.path) or self.bodies["*"]
        if route.template is not None and pick < 0.25:
            return encode(route.template, self.rng), json_type
        if pick < 0.6:
            return self.rng.choice(drawn), json_type
        if pick < 0.8:
            base = encode(route.template, self.rng) if route.template else self.rng.choice(drawn)
            return mutate.mutate(self.rng, base), json_type
        odd = self.rng.randrange(9)
        if odd == 0:
            return mutate.nest_bomb(self.rng), json_type
        if odd == 1:
            return b'{"sql": "' + b"x" * self.rng.choice((100_000, 2_000_000)) + b'"}', json_type
        if odd == 2:
            return self.rng.choice(drawn), None
        if odd == 3:
            return self.rng.choice(drawn), b"text/plain"
        if odd == 4:
            return b"csrf_token=x&token=" + b"%ff" * 10, b"application/x-www-form-urlencoded"
        if odd == 5:
            return (b"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                    + self.rng.randbytes(30), b"multipart/form-data; boundary=b")
        if odd == 6:
            return "{\"sql\": \"select 1\"}".encode("utf-16"), b"application/json; charset=utf-16"
        if odd == 7:
            return b"", json_type
        return self.rng.choice(drawn), _visible(mutate.header_value(self.rng))

    # -- beyond the routes ----------------------------------------------------------------------

    def _odd_method(self) -> Case:
        route = self.rng.choice(self.routes)
        method = self.rng.choice((b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD", b"TRACE",
                                  b"GET", b"POST", b"PROPFIND", b"QUERY"))
        mode = self.rng.choice(("bearer", "anonymous", "session"))
        target = self._target(route, mode)
        if mode == "session" and target.startswith(b"/logout"):
            mode = "session-no-csrf"
        if method == b"DELETE" and mode != "anonymous" and target.startswith(b"/api/v1/sources/"):
            target = b"/api/v1/sources/nope"
        body = self.rng.choice(self.bodies["*"]) if self.rng.random() < 0.5 else b""
        return self._case(method, target, self._auth(mode, target), body, mode, label="method")

    def _odd_target(self) -> Case:
        target = self.rng.choice((
            b"/api", b"/api/", b"/api/v1", b"/api/v1/", b"/api/v2/sources", b"/api/v1//sources",
            b"/api/v1/sources/", b"/api/v1/../../etc/passwd", b"/static/../../secret.key",
            b"/static/%2e%2e/%2e%2e/state.db", b"/static/" + b"a/" * 500, b"/" + b"x" * 20_000,
            b"/api/v1/sources/" + quote("\U0001f600").encode(), b"/%ff", b"/api/v1/%00",
            b"*", b"http://evil.example/api/v1/sources", b"/login/once/", b"/login/once/x/y",
            b"/webhooks/customerio/acme", b"/api/v1/openapi.json?x=" + b"y" * 5000,
        ))
        mode = self.rng.choice(("bearer", "anonymous", "session"))
        method = self.rng.choice((b"GET", b"POST", b"HEAD"))
        if mode == "session" and method == b"POST":
            mode = "session-no-csrf"
        # Only origin-form targets are held to the auth rules here: "*" or an absolute URL
        # are the HTTP parser's business.
        allowed = _allowed(mode, method, target) if target.startswith(b"/") else None
        return Case(request(method, target, self._auth(mode, target)), "target", fresh=True,
                    head=method == b"HEAD", no_answer_ok=True, allowed=allowed)

    def _odd_headers(self) -> Case:
        mode = self.rng.choice(("bearer", "anonymous", "session-no-csrf"))
        route = self.rng.choice(self.routes)
        extra = self.rng.choice((
            [(b"cookie", mutate.header_value(self.rng))],
            [(b"cookie", b"cio_session=a; cio_session=b; cio_presession=\xff")],
            [(b"content-type", mutate.header_value(self.rng))],
            [(b"host", mutate.header_value(self.rng))],
            [(b"x-csrf-token", mutate.header_value(self.rng))],
            [(b"authorization", mutate.header_value(self.rng))],
            [(b"expect", b"100-continue")],
            [(b"accept-encoding", b"gzip;q=" + b"9" * 100)],
            [(b"x-h%d" % i, b"v") for i in range(self.rng.choice((50, 1000)))],
            [(b"x-big", b"b" * self.rng.choice((10_000, 100_000)))],
            [(b"range", b"bytes=0-1,5-")],
        ))
        body = self.rng.choice(self.bodies["*"]) if route.method in UNSAFE else b""
        target = self._target(route, mode)
        raw = request(route.method, target, self._auth(mode, target) + extra, body)
        # A header the parser refuses is a 400; anything else stays below 500.
        return Case(raw, "headers", fresh=True, no_answer_ok=True)

    def _bad_framing(self) -> Case:
        route = self.rng.choice(self.routes)
        target = self._target(route, "bearer")
        auth = b"authorization: Bearer " + self.callers.admin_token.encode() + b"\r\n"
        head = b"POST " + target + b" HTTP/1.1\r\nhost: x\r\n" + auth
        body = self.rng.choice(self.bodies["*"])
        raw = self.rng.choice((
            head + b"content-length: %d\r\n\r\n" % (len(body) + 100) + body,
            head + b"content-length: abc\r\n\r\n" + body,
            head + b"content-length: 3\r\ncontent-length: 30\r\n\r\n" + body,
            head + b"transfer-encoding: chunked\r\n\r\nzz\r\n" + body,
            head + b"transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
            b"GET " + target + b" HTTP/1.1\nhost: x\n" + auth.replace(b"\r", b"") + b"\n",
            b"GET " + target + b" HTTP/1.0\r\n\r\n",
            b"GET " + target + b"\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            mutate.mutate(self.rng, head + b"content-length: 2\r\n\r\n{}"),
            head + b"x\x00y: 1\r\ncontent-length: 0\r\n\r\n",
        ))
        return Case(raw, "framing", fresh=True, half_close=True, no_answer_ok=True)


def _allowed(mode: str, method: bytes, target: bytes) -> frozenset[int] | None:
    """What a caller without the right credentials may get (never a success; a 400 is the
    HTTP parser refusing the request first); None: any status below 500."""
    if mode in ("bearer", "session") or _is_public(target):
        return None
    api = target.startswith(b"/api/")
    if mode in ("anonymous", "forged-session"):
        return frozenset({400, 401}) if api else frozenset({400, 303})
    if mode == "bad-bearer":
        # 429: past 10 failed logins a minute from 127.0.0.1 (web/throttle.py).
        return frozenset({400, 401, 429})
    # A session without its CSRF token: reads work, writes are refused (a form over 1 MiB
    # is refused before its token is looked for).
    if method in UNSAFE:
        return frozenset({400, 403, 413})
    return None


def _visible(value: bytes) -> bytes:
    """Without the control characters an HTTP parser refuses in a header value."""
    return bytes(b for b in value if b == 9 or 32 <= b < 127 or b >= 128)


def draw_bodies(routes_: tuple[Route, ...], draw: Callable[..., list[Any]], rng: random.Random,
                per_route: int, rng_seed: int) -> dict[str, list[bytes]]:
    """Hypothesis bodies for each route with a model, and a shared pool of any JSON ("*")."""
    bodies = {"*": [encode(v, rng) for v in draw(JSON, per_route, rng_seed)]}
    for n, route in enumerate(routes_):
        if route.body is not None:
            values = draw(body_of(route.body), per_route, rng_seed + n + 1)
            bodies[route.path] = [encode(v, rng) for v in values]
    return bodies
