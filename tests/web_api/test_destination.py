"""A source linked in the web app loads where the user says: its destination is checked before it
is saved, shown with its password masked, and the data page reads it there."""

from __future__ import annotations

from typing import Any

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.warehouse import deliveries
from tests.helpers import wait_until
from tests.web_api.conftest import Browser


def test_a_source_on_postgres_through_the_json_api(
    browser: Browser, sandbox: SandboxServer, api_key: str, postgres_url: str,
    workspace: Workspace,
) -> None:
    base = {"region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
            "tables": ["campaigns", "segments"]}
    unknown = browser.send("POST", "/api/v1/sources",
                           {**base, "name": "acme", "destination": "oracle://x/y"})
    assert unknown.status_code == 400 and unknown.json()["field"] == "destination"
    password = postgres_url.split(":")[2].split("@")[0]
    wrong = postgres_url.replace(password, "not-the-password")
    refused = browser.send("POST", "/api/v1/sources",
                           {**base, "name": "acme", "destination": wrong})
    assert refused.status_code == 400 and refused.json()["field"] == "destination"
    assert "password authentication failed" in refused.json()["error"]
    assert "not-the-password" not in refused.text
    assert browser.ok("GET", "/api/v1/sources") == []  # nothing saved half-way

    source = browser.ok("POST", "/api/v1/sources",
                        {**base, "name": "acme", "destination": postgres_url}, status=201)
    assert source["destination"].startswith("postgresql://cio:***@")
    assert source["destination_engine"] == "PostgreSQL"
    assert password not in browser.get("/api/v1/sources/acme").text

    job = browser.ok("POST", "/api/v1/sources/acme/sync", {}, status=202)
    def finished() -> dict[str, Any] | None:
        job_now: dict[str, Any] = browser.ok("GET", f"/api/v1/jobs/{job['id']}")
        return job_now if job_now["finished_at"] is not None else None

    done = wait_until(finished, f"job {job['id']} to finish", 60, interval=0.2)
    assert [o["status"] for o in done["outcomes"]] == ["succeeded", "succeeded"], done
    tables = browser.ok("GET", "/api/v1/warehouse/tables?source=acme")
    # The synced tables, and the ones `deliveries` reads, there from the start with no rows.
    assert {(t["table"], t["rows"]) for t in tables} == {
        ("campaigns", workspace.expected_rows("campaigns")),
        ("segments", workspace.expected_rows("segments")),
        *((name, 0) for name in (*deliveries.BASE_TABLES, deliveries.VIEW)),
    }
    assert browser.ok("POST", "/api/v1/query", {
        "sql": "select count(*)::int from acme.deliveries", "source": "acme"})["rows"] == [[0]]
    preview = browser.ok("GET", "/api/v1/warehouse/tables/acme/campaigns?limit=3")
    assert preview["row_count"] == workspace.expected_rows("campaigns")
    # PostgreSQL's own SQL in the SQL box; its read-only session refuses a write.
    answer = browser.ok("POST", "/api/v1/query", {
        "sql": "select count(*)::int as n from acme.segments where name ilike 'dynamic%'",
        "source": "acme"})
    assert answer["columns"] == ["n"] and answer["rows"][0][0] >= 1
    write = browser.send("POST", "/api/v1/query",
                         {"sql": "select pg_advisory_lock(1), setval('x', 1)", "source": "acme"})
    assert write.status_code == 400
    assert browser.ok("GET", "/api/v1/sources/acme/activity") == []
