"""Message history settings through the JSON API: how far back the first `messages` sync reaches
and how much each later one reads again, set when linking, changed later, refused out of range
with the field named; and the catalog the wizard reads leaves `messages` unselected."""

from __future__ import annotations

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import StateStore
from tests.web_api.conftest import Browser, RunningApp

WITH_HISTORY = ["messages", "email_events"]


def _create(browser: Browser, sandbox: SandboxServer, api_key: str, name: str,
            **extra: object) -> dict[str, object]:
    body = {"name": name, "region": "us", "app_api_key": api_key,
            "api_base_url": sandbox.url, "tables": WITH_HISTORY, **extra}
    answer = browser.send("POST", "/api/v1/sources", body)
    return {"status": answer.status_code, **answer.json()}


def test_history_and_lookback_days_are_set_changed_and_checked(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str
) -> None:
    tables = {t["name"]: t for t in browser.ok("GET", "/api/v1/catalog")["tables"]}
    assert len(tables) == len(catalog.TABLES) == 18
    assert tables["messages"]["default_selected"] is False
    assert tables["messages"]["sync_method"] == "incremental"
    assert all(t["default_selected"] for name, t in tables.items() if name != "messages")

    # Linking: the values given, else the defaults, as the Source view shows them.
    made = _create(browser, sandbox, api_key, "acme", history_days=90, lookback_days=3)
    assert made["status"] == 201, made
    assert (made["history_days"], made["lookback_days"]) == (90, 3)
    assert made["tables"] == WITH_HISTORY
    plain = _create(browser, sandbox, api_key, "plain")
    assert (plain["history_days"], plain["lookback_days"]) == (30, 7)
    stored = StateStore(app.service.data_dir).get_source("acme").settings
    assert (stored.history_days, stored.lookback_days) == (90, 3)

    # Out of range or of the wrong type: refused, naming the field, and nothing is linked.
    for extra, field in (({"history_days": 0}, "history_days"),
                         ({"history_days": 3651}, "history_days"),
                         ({"lookback_days": 181}, "lookback_days"),
                         ({"lookback_days": -1}, "lookback_days")):
        refused = _create(browser, sandbox, api_key, "bad", **extra)
        assert refused["status"] == 400 and refused["field"] == field, refused
        assert "must be between" in str(refused["error"]) and field in str(refused["error"])
    wrong_type = _create(browser, sandbox, api_key, "bad", history_days="60")
    assert wrong_type["status"] == 400, wrong_type
    assert "bad" not in [s["name"] for s in browser.ok("GET", "/api/v1/sources")]

    # Changing one keeps the other; null goes back to the default.
    changed = browser.ok("PATCH", "/api/v1/sources/acme", {"history_days": 60})
    assert (changed["history_days"], changed["lookback_days"]) == (60, 3)
    changed = browser.ok("PATCH", "/api/v1/sources/acme", {"lookback_days": 0})
    assert (changed["history_days"], changed["lookback_days"]) == (60, 0)
    reset = browser.ok("PATCH", "/api/v1/sources/acme", {"history_days": None})
    assert (reset["history_days"], reset["lookback_days"]) == (30, 0)
    assert StateStore(app.service.data_dir).get_source("acme").settings.history_days is None

    # A refused change changes nothing, not even what came with it.
    refused = browser.send("PATCH", "/api/v1/sources/acme",
                           {"lookback_days": 181, "frequency_seconds": 3600})
    assert refused.status_code == 400 and refused.json()["field"] == "lookback_days"
    kept = browser.ok("GET", "/api/v1/sources/acme")
    assert (kept["history_days"], kept["lookback_days"]) == (30, 0)
    assert kept["frequency_seconds"] != 3600
