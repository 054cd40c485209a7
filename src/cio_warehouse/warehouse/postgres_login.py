"""Which PostgreSQL login does what: loads as the destination URL's user, queries optionally as a
SELECT-only role named in the same URL.

A PostgreSQL destination URL may carry `query_user` and `query_password`: then the SQL box,
`query`, the table browser and the charts log in as that role, which can only read
(docs/destinations.md shows how to make it), so the server itself refuses a write, a file or a
setting whatever the query guard lets through. Loads and schema changes keep the URL's own user;
neither libpq nor dlt ever sees the two parameters.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

QUERY_USER = "query_user"
# A parameter name, not a password; its value is masked wherever the URL is shown (mask_url).
QUERY_PASSWORD = "query_password"  # noqa: S105


def loader_url(url: str) -> str:
    """The URL loads and admin use: without the query login."""
    return _replace(url, None)


def query_url(url: str) -> str:
    """The URL queries use: the query login when the URL names one, else the loader's."""
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    user = params.get(QUERY_USER)
    if not user:
        return loader_url(url)
    login = quote(user, safe="")
    if params.get(QUERY_PASSWORD):
        login += ":" + quote(params[QUERY_PASSWORD], safe="")
    return _replace(url, login)


def problem(url: str) -> str | None:
    """What is wrong with the URL's query login, in a sentence; None when nothing is."""
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if params.get(QUERY_PASSWORD) and not params.get(QUERY_USER):
        return (
            "The destination URL has a query_password but no query_user: name the SELECT-only "
            "role queries log in as (docs/destinations.md)."
        )
    return None


def _replace(url: str, login: str | None) -> str:
    parts = urlsplit(url)
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
         if k not in (QUERY_USER, QUERY_PASSWORD)]
    )
    netloc = parts.netloc
    if login is not None:
        netloc = f"{login}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))
