"""Reading one App API list whole: its reads, cursor paging and its guards, sender dedupe by key."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cio_warehouse.catalog import Paging, Table
from cio_warehouse.customerio.errors import DataError

log = logging.getLogger(__name__)

Row = dict[str, Any]
GetJSON = Callable[[str, Mapping[str, str]], dict[str, Any]]


def iter_pages(
    get_json: GetJSON, table: Table, page_limit: int, params: Mapping[str, str] | None = None
) -> Iterator[list[Row]]:
    """Yield the rows of `table` page by page: every read of the catalog row, in order, each with
    `params` as well (message history's time window).

    A table read more than once (sender identities: without the flag, then `hidden=true`) yields
    each primary key once, the first time it is seen: a replace does not dedupe, and the live
    API and the docs disagree on which read lists which sender (docs/customerio-behaviour.md).
    """
    if table.path is None or table.list_key is None:
        raise ValueError(f"table {table.name!r} is not an App API list table")
    seen_keys: set[object] | None = set() if len(table.reads) > 1 else None
    for read in table.reads:
        query = {**(params or {}), **dict(read)}
        if table.paging is Paging.CURSOR:
            query["limit"] = str(table.page_size or page_limit)
        for rows in _read(get_json, table, query):
            if seen_keys is not None:
                rows = _first_seen(rows, table.primary_key, seen_keys)
            yield rows


def _first_seen(rows: list[Row], key: str, seen: set[object]) -> list[Row]:
    kept = []
    for row in rows:
        value = row.get(key)
        if isinstance(value, str | int):  # anything else is dlt's to refuse, not ours to drop
            if value in seen:
                continue
            seen.add(value)
        kept.append(row)
    return kept


def _read(get_json: GetJSON, table: Table, params: dict[str, str]) -> Iterator[list[Row]]:
    path = str(table.path)
    cursors: set[str] = set()
    while True:
        body = get_json(path, params)
        rows = _rows(table, body)
        yield rows
        # Live, a list can end with a cursor that leads to one empty page: an empty page is the
        # end whatever its `next` says (docs/customerio-behaviour.md).
        if not rows:
            return
        cursor = _next_cursor(table, body)
        if cursor is None:
            return
        if table.paging is not Paging.CURSOR and not cursors:
            # Customer.io added paging to lists without documenting it: follow it, never drop it.
            log.info("table %s: GET %s is paged though documented unpaged; following next",
                     table.name, path)
        # customerio-api.md: "A cursor that repeats must stop the sync with an error, not loop."
        if cursor in cursors:
            raise DataError(
                f"table {table.name}: GET {path} returned the cursor {cursor[:60]!r} a second "
                f"time, so paging would never end: stopped; try again later, and report it "
                f"if it persists.",
                path=path,
            )
        cursors.add(cursor)
        params["start"] = cursor


def _rows(table: Table, body: Mapping[str, Any]) -> list[Row]:
    path, list_key = table.path, table.list_key
    rows = body.get(str(list_key))
    if rows is None and list_key in body:
        # Live, an empty list can come as null though the spec says array (collections, Sep
        # 2026; docs/customerio-behaviour.md): it is an empty page. A missing key is not.
        return []
    if not isinstance(rows, list):
        raise DataError(
            f"table {table.name}: GET {path} has no list under {list_key!r} (got "
            f"{type(rows).__name__}): the answer does not have the shape Customer.io "
            f"documents; try again later, and report it if it persists.",
            path=path,
        )
    if not all(isinstance(row, dict) for row in rows):
        raise DataError(
            f"table {table.name}: GET {path} lists non-object items under {list_key!r}: "
            f"the answer does not have the shape Customer.io documents; try again later, "
            f"and report it if it persists.",
            path=path,
        )
    return rows


def _next_cursor(table: Table, body: Mapping[str, Any]) -> str | None:
    # customerio-api.md: "The end is a missing, null or empty `next`."
    cursor = body.get("next")
    if cursor is None or cursor == "":
        return None
    if isinstance(cursor, bool) or not isinstance(cursor, str | int):
        raise DataError(
            f"table {table.name}: GET {table.path} returned a 'next' cursor of type "
            f"{type(cursor).__name__}, not a string: the response does not have the "
            f"documented shape.",
            path=table.path,
        )
    return str(cursor)
