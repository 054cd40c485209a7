"""Message history in the browser: the wizard offers `messages` unchecked with its History
(days) field, the settings page changes history and lookback days, and the source page says on
which days the webhook missed deliveries that history has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.browser.conftest import Served, shot
from tests.browser.linking import WEBHOOK_TABLES, api, link, query, wait_job
from tests.gapped_stream import deliver_with_a_gap, gapped_sandbox
from tests.helpers import wait_until

# Per day, written apart from warehouse/missed.py: sent deliveries of history the webhook never
# reported, and all sent ones of history, created between the webhook's first and last delivery.
MISSED_SQL = """
select strftime(cast(created_at at time zone 'UTC' as date), '%Y-%m-%d') as day,
       count(*) filter (where not from_webhook) as missed, count(*) as in_history
from acme.deliveries
where from_history and sent_at is not null
  and created_at >= (select min(created_at) from acme.deliveries where from_webhook)
  and created_at <= (select max(created_at) from acme.deliveries where from_webhook)
group by 1 having count(*) filter (where not from_webhook) > 0 order by 1
"""


def _source(served: Served) -> dict[str, Any]:
    with api(served) as client:
        found: dict[str, Any] = client.get("/sources/acme").raise_for_status().json()
    return found


def test_the_wizard_offers_message_history_unchecked_with_its_days(
    sandbox: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    # As step 1 leaves it: only the event tables, the webhook registered and enabled.
    link(served, sandbox, api_key, tables=WEBHOOK_TABLES, sync=False)
    page.goto("/sources/acme/setup/tables")
    expect(page.locator("input[name=tables]")).to_have_count(len(catalog.TABLES))
    row = page.locator("tr[data-table=messages]")
    expect(row).to_contain_text(catalog.MESSAGES.description)
    expect(row).to_contain_text("Incremental")
    expect(page.locator("#t-messages")).not_to_be_checked()
    for table in catalog.TABLES:
        if table.selected_by_default:
            expect(page.locator(f"#t-{table.name}")).to_be_checked()
    history = page.locator("tr[data-options-for=messages] #history_days")
    expect(history).to_be_visible()
    expect(history).to_have_value("30")
    expect(history).to_be_disabled()
    page.check("#t-messages")
    expect(history).to_be_enabled()
    shot(page, "30-step3-message-history")

    # Out of range: refused beside the field, nothing saved.
    history.fill("0")
    page.click("#import")
    error = page.locator("tr[data-options-for=messages] .field-error")
    expect(error).to_contain_text("history_days must be between 1 and 3650")
    assert "messages" not in _source(served)["tables"]

    history.fill("2")
    page.click("#import")
    page.wait_for_url(re.compile(r"/sources/acme\?job=\d+$"))
    saved = _source(served)
    assert "messages" in saved["tables"] and saved["history_days"] == 2
    synced = len(catalog.SYNCED_TABLES)  # the default selection and messages
    expect(page.locator(".job-done")).to_contain_text(f"Synced {synced} of {synced} tables",
                                                      timeout=120_000)
    expect(page.locator("#status-table tr[data-table=messages]")).to_have_attribute(
        "data-status", "succeeded")

    # The settings page shows both days, enabled with the table, and saves them.
    page.goto("/sources/acme/settings")
    options = page.locator("tr[data-options-for=messages]")
    expect(options.locator("#history_days")).to_have_value("2")
    expect(options.locator("#lookback_days")).to_have_value("7")
    options.locator("#lookback_days").fill("181")
    page.click("#tables-form button[type=submit]")
    expect(options.locator(".field.invalid .field-error")).to_contain_text(
        "lookback_days must be between 0 and 180")
    expect(options.locator(".field.invalid #lookback_days")).to_be_visible()
    options.locator("#lookback_days").fill("3")
    page.click("#tables-form button[type=submit]")
    expect(page.locator("#tables-form .form-status")).to_contain_text("Saved")
    assert (_source(served)["history_days"], _source(served)["lookback_days"]) == (2, 3)
    page.uncheck("#t-messages")
    expect(options.locator("#lookback_days")).to_be_disabled()


@pytest.fixture
def gapped(workspace: Workspace, api_key: str) -> Iterator[SandboxServer]:
    with gapped_sandbox(workspace, api_key) as sandbox:
        yield sandbox


def test_the_source_page_says_what_the_webhook_missed(
    gapped: SandboxServer, page: Page, served: Served, api_key: str
) -> None:
    link(served, gapped, api_key, tables=WEBHOOK_TABLES, sync=False)
    deliver_with_a_gap(gapped)
    delivered = sum(s.delivered for s in gapped.delivery_stats().values())
    with api(served) as client:
        def loaded() -> bool:
            health = client.get("/sources/acme/webhook").raise_for_status().json()["health"]
            return bool(health["backlog"] == 0 and health["stored"] >= delivered)

        wait_until(loaded, "the deliveries to reach the warehouse", 60, interval=0.2)
        client.patch("/sources/acme", json={
            "tables": [*WEBHOOK_TABLES, "messages"], "history_days": 3}).raise_for_status()
        answer = client.post("/sources/acme/sync", json={"tables": ["messages"]})
        # The scheduler may have started the never-synced table first (409): wait for it.
        if answer.status_code == 202:
            done = wait_job(client, answer.json()["id"])
            assert done["error"] is None, done

        def synced() -> bool:
            [table] = [t for t in client.get("/sources/acme/tables").json()
                       if t["name"] == "messages"]
            return table["last_success"] is not None and not table["running"]

        wait_until(synced, "messages to sync", 120, interval=0.2)
    expected = [(day, int(missed), int(seen)) for day, missed, seen in query(served, MISSED_SQL)]
    assert expected and all(missed > 0 for _, missed, _ in expected)

    page.goto("/sources/acme")
    days = page.locator("#wh-missed .missed-day")
    expect(days).to_have_count(len(expected))
    for n, (day, missed, seen) in enumerate(expected):
        shown = days.nth(n)
        expect(shown).to_have_attribute("data-day", day)
        expect(shown).to_have_text(re.compile(
            rf"^The webhook missed {missed} of {seen} deliveries on {day}; "))
    expect(page.locator("#wh-missed .banner-warning").first).to_contain_text("Missed deliveries")
    shot(page, "31-source-missed-deliveries", page.locator("#webhook-panel"))
