"""The data page on a synced source with webhook events: the table browser, the SQL box (results
and a clear error), the activity chart, and funnels whose numbers match a SQL count."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir
from tests.browser.conftest import Served, logged_in_page, shot, start_served
from tests.browser.linking import deliver, link, query

EVENTS = 600


@dataclass
class Linked:
    served: Served
    sandbox: SandboxServer
    workspace: Workspace
    delivered: int


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    """One source, synced and with events, shared by this module's read-only tests."""
    workspace = Workspace.preset("small", seed=11)
    api_key = "sbx_" + secrets.token_hex(20)
    data_dir = DataDir(Path(tmp_path_factory.mktemp("data-page")) / "data").create()
    with SandboxServer(workspace, api_key=api_key) as sandbox:
        served = start_served(data_dir)
        try:
            link(served, sandbox, api_key)
            delivered = deliver(served, sandbox, EVENTS)
            yield Linked(served, sandbox, workspace, delivered)
        finally:
            served.process.stop()


@pytest.fixture
def data_page(browser: Browser, linked: Linked) -> Iterator[Page]:
    with logged_in_page(browser, linked.served) as page:
        page.goto("/data?source=acme")
        yield page


def test_table_browser_shows_columns_row_count_and_first_rows(
    data_page: Page, linked: Linked
) -> None:
    page = data_page
    rows = linked.workspace.expected_rows("campaigns")
    button = page.locator("#table-list button[data-source=acme][data-table=campaigns]")
    expect(button).to_contain_text(f"{rows:,}")
    button.click()
    expect(page.locator("#table-title")).to_have_text("acme.campaigns")
    expect(page.locator("#table-caption")).to_contain_text(f"{rows:,} rows")
    page.click("#table-columns summary")
    expect(page.locator("#table-columns td.mono", has_text="name").first).to_be_visible()
    expect(page.locator("#table-rows tbody tr")).to_have_count(min(20, rows))
    shot(page, "13-data-table-browser", page.locator(".grid-side"))


def test_sql_box_shows_results_and_a_clear_error(data_page: Page, linked: Linked) -> None:
    page = data_page
    page.fill("#sql", "select count(*) as n, count(distinct name) as names from acme.segments")
    page.click("#run-sql")
    expect(page.locator("#sql-rows thead th")).to_have_text(["n", "names"])
    expect(page.locator("#sql-rows tbody td").first).to_have_text(
        str(linked.workspace.expected_rows("segments"))
    )
    expect(page.locator("#sql-summary")).to_contain_text("1 row")
    shot(page, "14-data-sql-results", page.locator("#sql-panel"))

    page.fill("#sql", "select * from acme.no_such_table")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#sql-error")).to_contain_text("The query failed")
    expect(page.locator("#sql-error")).to_contain_text("no_such_table")
    shot(page, "15-data-sql-error", page.locator("#sql-panel"))

    page.fill("#sql", "delete from acme.campaigns")
    page.click("#run-sql")
    expect(page.locator("#sql-error")).to_contain_text("read-only")
    assert query(linked.served, "select count(*) from acme.campaigns") == [
        [linked.workspace.expected_rows("campaigns")]
    ]


def test_activity_chart_has_a_line_per_metric_per_channel(data_page: Page, linked: Linked) -> None:
    page = data_page
    expected = query(
        linked.served,
        "select metric, count(*) from acme.email_events group by 1 order by 1",
    )
    email = page.locator(".chart-card[data-channel=email]")
    expect(email).to_be_visible()
    metrics = sorted(email.locator("svg .series").evaluate_all(
        "nodes => nodes.map(n => n.dataset.metric)"
    ))
    assert metrics == sorted(m for m, _ in expected)
    total = sum(n for _, n in expected)
    expect(email.locator("h3")).to_contain_text(f"{total:,} events")
    shot(page, "16-data-activity-chart", page.locator("#activity-panel"))


def _event_tables_with(linked: Linked, *columns: str) -> list[str]:
    wanted = ", ".join(f"'{c}'" for c in columns)
    rows = query(
        linked.served,
        "select table_name from information_schema.columns where table_schema = 'acme'"
        " and table_name like '%\\_events' escape '\\' and table_name <> 'unrouted_events'"
        f" and column_name in ({wanted}) group by 1 having count(*) = {len(columns)} order by 1",
    )
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("kind", "tab"), [("campaign", "Campaigns"), ("broadcast", "Broadcasts"),
                      ("newsletter", "Newsletters")]
)
def test_funnel_numbers_match_a_sql_count(
    data_page: Page, linked: Linked, kind: str, tab: str
) -> None:
    page = data_page
    page.get_by_role("tab", name=tab).click()
    first = page.locator("#funnel-table tbody tr").first
    expect(first).to_have_attribute("data-kind", kind)
    funnel_id = int(first.get_attribute("data-id") or "0")
    shown = {
        metric: int(first.locator(f"td[data-metric={metric}]").inner_text().split()[0]
                    .replace(",", ""))
        for metric in ("sent", "delivered", "opened", "clicked")
    }
    assert shown["sent"] > 0, f"the sandbox sent no {kind} deliveries"

    # The same count typed into the SQL box, over the event tables: a delivery counts at a stage
    # when it reached that stage or a later one (an opened email was delivered).
    tables = _event_tables_with(linked, f"{kind}_id", "delivery_id", "metric")
    union = " union all ".join(
        f"select metric, delivery_id from acme.{t} where {kind}_id = {funnel_id}" for t in tables
    )
    stages = ("sent", "delivered", "opened", "clicked")
    sql = " union all ".join(
        f"select '{stage}' as stage, count(distinct delivery_id) as deliveries from ({union})"
        f" where metric in ({', '.join(repr(m) for m in stages[depth:])})"
        for depth, stage in enumerate(stages)
    )
    page.fill("#sql", sql)
    page.click("#run-sql")
    expect(page.locator("#sql-rows")).to_be_visible()
    counted = {
        row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(1).inner_text())
        for row in page.locator("#sql-rows tbody tr").all()
    }
    assert shown == {m: counted.get(m, 0) for m in shown}

    # Named from the API table.
    [[name]] = query(linked.served, f"select name from acme.{kind}s where id = {funnel_id}")
    expect(first.locator(".cell-title")).to_have_text(name)
    shot(page, f"17-data-funnel-{kind}", page.locator("#funnel-panel"))
