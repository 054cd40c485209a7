"""iter_pages: one catalog-driven iterator for every list endpoint; cursor paging and its guards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cio_fakes import Script, json_response, make_client

from cio_warehouse import catalog
from cio_warehouse.catalog import Paging
from cio_warehouse.customerio import ClientSettings, DataError, RequestStats

pytestmark = pytest.mark.timeout(10)

NEWSLETTERS = catalog.get("newsletters")
SENDERS = catalog.get("sender_identities")
SEGMENTS = catalog.get("segments")


def rows(*ids: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"row {i}"} for i in ids]


def cursor_page(key: str, ids: list[int], **extra: Any) -> httpx.Response:
    """A cursor page: customerio-api.md, the list plus a top-level `next` (sent back as `start`)."""
    return json_response({key: rows(*ids), **extra})


@pytest.mark.parametrize(
    "end", [{}, {"next": None}, {"next": ""}], ids=["missing", "null", "empty"]
)
def test_unpaged_table_is_one_request_with_no_paging_params(end: dict[str, Any]) -> None:
    script = Script(json_response({"segments": rows(1, 2, 3), **end}))
    with make_client(script) as client:
        pages = list(client.iter_pages(SEGMENTS))
    assert pages == [rows(1, 2, 3)]
    assert script.requests[0].url.path == "/v1/segments"
    assert script.params == [{}]


def test_unpaged_table_follows_an_undocumented_next() -> None:
    """Live, Customer.io pages lists its docs call unpaged (docs/customerio-behaviour.md): a
    `next` is followed as `start` (was: dropped, losing every row past the first page)."""
    script = Script(
        json_response({"segments": rows(1, 2), "next": "p2"}),
        json_response({"segments": rows(3), "next": ""}),
    )
    stats = RequestStats()
    with make_client(script) as client:
        pages = list(client.iter_pages(SEGMENTS, stats))
    assert pages == [rows(1, 2), rows(3)]
    assert script.params == [{}, {"start": "p2"}]
    assert (stats.pages, stats.rows) == (2, 3)


def test_unpaged_table_with_a_repeating_next_is_a_data_error() -> None:
    script = Script(
        json_response({"segments": rows(1), "next": "p2"}),
        json_response({"segments": rows(2), "next": "p2"}),
    )
    with make_client(script) as client, pytest.raises(DataError, match="second time"):
        list(client.iter_pages(SEGMENTS))


@pytest.mark.parametrize("table", [NEWSLETTERS, SEGMENTS], ids=lambda t: t.name)
def test_an_empty_page_ends_the_list_whatever_its_next(table: catalog.Table) -> None:
    """Live, a list can end with a cursor and one empty page; that page's `next` may even repeat
    the cursor that led to it (was: a DataError that failed the table)."""
    key = str(table.list_key)
    script = Script(
        cursor_page(key, [1, 2], next="last"),
        cursor_page(key, [], next="last"),  # the script is the guard page: no third request
    )
    with make_client(script) as client:
        pages = list(client.iter_pages(table))
    assert pages == [rows(1, 2), []]
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "end", [{}, {"next": None}, {"next": ""}], ids=["missing", "null", "empty"]
)
def test_cursor_paging_follows_next_and_stops_at_the_end(end: dict[str, Any]) -> None:
    # The script is the guard page: a fourth request fails the test.
    script = Script(
        cursor_page("newsletters", [1, 2], next="c1"),
        cursor_page("newsletters", [3, 4], next="c2"),
        cursor_page("newsletters", [5], **end),
    )
    stats = RequestStats()
    with make_client(script) as client:
        pages = list(client.iter_pages(NEWSLETTERS, stats))
    assert pages == [rows(1, 2), rows(3, 4), rows(5)]
    assert script.params == [
        {"limit": "100"},
        {"limit": "100", "start": "c1"},
        {"limit": "100", "start": "c2"},
    ]
    assert (stats.requests, stats.pages, stats.rows, stats.retries) == (3, 3, 5, 0)


def test_guard_page_catches_a_paginator_that_asks_past_the_end() -> None:
    def guard(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"the paginator asked past the end: {request.url}")

    script = Script(cursor_page("newsletters", [1], next=None), guard)
    with make_client(script) as client:
        assert list(client.iter_pages(NEWSLETTERS)) == [rows(1)]
    assert len(script.requests) == 1


def test_each_read_and_page_limit_are_sent_on_every_page() -> None:
    script = Script(
        cursor_page("sender_identities", [1], next=17),  # an integer cursor is sent as text
        cursor_page("sender_identities", [2]),
        cursor_page("sender_identities", [3], next="h2"),
        cursor_page("sender_identities", [4]),
    )
    settings = ClientSettings(max_rps=None, page_limit=25)
    with make_client(script, settings=settings) as client:
        assert len(list(client.iter_pages(SENDERS))) == 4
    assert script.params == [
        {"limit": "25"},
        {"limit": "25", "start": "17"},
        {"hidden": "true", "limit": "25"},
        {"hidden": "true", "limit": "25", "start": "h2"},
    ]


@pytest.mark.parametrize(
    ("plain", "flagged"),
    [([1, 2, 3], [1, 2, 3, 4, 5]), ([1, 2, 3], [4, 5]), ([1, 2, 3], [])],
    ids=["docs: the flag lists everyone", "live: the flag lists the hidden", "none hidden"],
)
def test_senders_are_read_without_and_with_hidden_and_kept_once(
    plain: list[int], flagged: list[int]
) -> None:
    """docs/customerio-behaviour.md: whichever read lists the visible senders, every sender
    lands, once (a replace does not dedupe)."""
    script = Script(
        cursor_page("sender_identities", plain[:2], next="v2"),
        cursor_page("sender_identities", plain[2:]),
        cursor_page("sender_identities", flagged),
    )
    stats = RequestStats()
    with make_client(script) as client:
        got = [row["id"] for page in client.iter_pages(SENDERS, stats) for row in page]
    assert got == [1, 2, 3, 4, 5][: len(set(plain) | set(flagged))]
    assert stats.rows == len(got)
    assert [p.get("hidden") for p in script.params] == [None, None, "true"]


def test_a_repeated_cursor_is_a_data_error_not_a_loop() -> None:
    script = Script(
        cursor_page("newsletters", [1], next="a"),
        cursor_page("newsletters", [2], next="b"),
        cursor_page("newsletters", [3], next="a"),
    )
    pages: list[list[dict[str, Any]]] = []
    with make_client(script) as client, pytest.raises(DataError) as info:
        for page in client.iter_pages(NEWSLETTERS):
            pages.append(page)
    assert len(pages) == 3
    assert "newsletters" in str(info.value)
    assert "'a' a second time" in str(info.value)
    assert info.value.path == "/v1/newsletters"


def test_a_cursor_equal_to_itself_on_the_next_page_is_caught_at_once() -> None:
    script = Script(
        cursor_page("newsletters", [1], next="same"),
        cursor_page("newsletters", [1], next="same"),
    )
    with make_client(script) as client, pytest.raises(DataError, match="second time"):
        list(client.iter_pages(NEWSLETTERS))
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"newsletters": {"id": 1}},
        {"items": []},
        {"newsletters": [1, 2]},
    ],
    ids=["object", "missing", "not-objects"],
)
def test_list_key_must_hold_a_list_of_objects(body: dict[str, Any]) -> None:
    with make_client(Script(json_response(body))) as client, pytest.raises(DataError) as info:
        list(client.iter_pages(NEWSLETTERS))
    message = str(info.value)
    assert "table newsletters" in message
    assert "'newsletters'" in message


@pytest.mark.parametrize("table", [NEWSLETTERS, SEGMENTS], ids=lambda t: t.name)
def test_a_null_list_is_an_empty_page(table: catalog.Table) -> None:
    """Live, an empty list can come as null though the spec says array (docs/customerio-
    behaviour.md); was: a DataError that failed the table."""
    script = Script(json_response({str(table.list_key): None, "next": ""}))
    with make_client(script) as client:
        assert list(client.iter_pages(table)) == [[]]


def test_a_non_text_cursor_is_a_data_error() -> None:
    script = Script(cursor_page("newsletters", [1], next={"page": 2}))
    with make_client(script) as client, pytest.raises(DataError, match="'next' cursor"):
        list(client.iter_pages(NEWSLETTERS))


def test_pages_are_yielded_lazily() -> None:
    script = Script(
        cursor_page("newsletters", [1], next="a"),
        cursor_page("newsletters", [2]),
    )
    with make_client(script) as client:
        pages = client.iter_pages(NEWSLETTERS)
        assert next(pages) == rows(1)
        assert len(script.requests) == 1  # the second page is not fetched before it is needed
        assert list(pages) == [rows(2)]


def test_retries_inside_paging_are_counted(clock: Any) -> None:
    script = Script(
        cursor_page("newsletters", [1], next="a"),
        httpx.Response(429),
        cursor_page("newsletters", [2]),
    )
    stats = RequestStats()
    with make_client(script, clock=clock) as client:
        assert len(list(client.iter_pages(NEWSLETTERS, stats))) == 2
    assert (stats.requests, stats.retries, stats.pages, stats.rows) == (3, 1, 2, 2)
    assert script.params[1] == script.params[2] == {"limit": "100", "start": "a"}


def test_webhook_tables_are_refused() -> None:
    with make_client(Script()) as client, pytest.raises(ValueError, match="not an App API"):
        list(client.iter_pages(catalog.get("email_events")))


@pytest.mark.parametrize("table", catalog.API_TABLES, ids=lambda t: t.name)
def test_every_catalog_table_is_read_by_the_one_iterator(table: catalog.Table) -> None:
    assert table.path is not None and table.list_key is not None
    key = table.list_key
    steps = [cursor_page(key, [1, 2], next="n1"), cursor_page(key, [3])]
    if table.paging is not Paging.CURSOR:
        steps = [cursor_page(key, [1, 2, 3])]
    script = Script(*(steps * len(table.reads)))
    with make_client(script) as client:
        got = [row["id"] for page in client.iter_pages(table) for row in page]
    assert got == [1, 2, 3]
    assert {request.url.path for request in script.requests} == {table.path}
    reads = [dict(read) for read in table.reads for _ in steps]
    for read, params in zip(reads, script.params, strict=True):
        assert read.items() <= params.items()
