"""The SQL box on the data page: a 1,000-row result scrolls inside its panel, column names show as
the query wrote them, the result downloads as CSV, and the hint and the refusal list the same
statements (warehouse/query.py's)."""

from __future__ import annotations

import csv
from pathlib import Path

from playwright.sync_api import Page, Route, expect

from cio_warehouse.warehouse.query import READ_ONLY_STATEMENTS, READ_ONLY_SUMMARY
from tests.browser.conftest import shot

TRICKY = 'a,b "c"\nd'
SQL = (
    'select range as "CamelCase", case when range = 0 then $$' + TRICKY + '$$ end as "Mixed Name",'
    " [range, 2] as pair from range(1000)"
)


def test_a_large_result_scrolls_in_place_keeps_names_and_downloads_as_csv(
    page: Page, tmp_path: Path
) -> None:
    page.goto("/data")
    page.fill("#sql", SQL)
    page.click("#run-sql")
    expect(page.locator("#sql-rows tbody tr")).to_have_count(1000)
    expect(page.locator("#sql-rows thead th")).to_have_text(["CamelCase", "Mixed Name", "pair"])

    # The rows scroll inside the result; the page stays about a screen or two high.
    wrap = page.locator("#sql-result .table-wrap")
    inner = wrap.evaluate("el => ({ client: el.clientHeight, scroll: el.scrollHeight })")
    assert inner["scroll"] > 5 * inner["client"], inner
    page_height = page.evaluate("document.scrollingElement.scrollHeight")
    assert page_height < 4000, page_height
    wrap.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(page.locator("#sql-rows thead th").first).to_be_in_viewport()
    shot(page, "28-data-sql-large-result", page.locator("#sql-panel"))

    with page.expect_download() as info:
        page.click("#sql-csv")
    download = info.value
    assert download.suggested_filename.startswith("query-")
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / "result.csv"
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["CamelCase", "Mixed Name", "pair"]
    assert len(rows) == 1001
    assert rows[1] == ["0", TRICKY, "[0,2]"]
    assert rows[1000] == ["999", "", "[999,2]"]


def test_the_hint_and_the_refusal_name_the_same_statements(page: Page) -> None:
    page.goto("/data")
    hint = page.locator("#sql-hint")
    expect(hint.locator("code")).to_have_text([w.lower() for w in READ_ONLY_STATEMENTS])

    page.fill("#sql", "with t as (select 1 as x) select x + 1 as y from t")
    page.click("#run-sql")
    expect(page.locator("#sql-rows tbody td")).to_have_text("2")

    page.fill("#sql", "create table t as select 1")
    page.click("#run-sql")
    error = page.locator("#sql-error")
    expect(error).to_contain_text(f"Only read-only queries run here ({READ_ONLY_SUMMARY}), not")
    expect(error).to_contain_text("WITH")


def test_a_query_typed_while_the_page_loads_is_kept(page: Page) -> None:
    # The page fills in an example query once it knows the sources: never over what the user
    # typed meanwhile (CI once ran the example instead of the query typed on a slow start).
    held: list[Route] = []
    page.route("**/api/v1/sources", lambda route: held.append(route))
    page.goto("/data")
    page.fill("#sql", "select 42 as answer")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.unroute("**/api/v1/sources")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#sql")).to_have_value("select 42 as answer")
    page.click("#run-sql")
    expect(page.locator("#sql-rows tbody td")).to_have_text("42")
