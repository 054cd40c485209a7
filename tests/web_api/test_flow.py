"""The whole flow through the JSON API as a logged-in browser: check the key, link, register
the webhook, store its signing key, sync, receive deliveries, read status, tables, activity and
funnels; then every GET route of the app is read and none sends back a stored secret."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI

from cio_warehouse import catalog
from cio_warehouse.sandbox import SandboxServer, Workspace
from tests.helpers import wait_until
from tests.web_api.conftest import Browser, RunningApp
from tests.web_api.test_guarded import _routes


def _sync_everything(browser: Browser) -> int:
    """Sync now; the scheduler may have started the same tables a moment earlier (409)."""
    answer = browser.send("POST", "/api/v1/sources/acme/sync", {})
    assert answer.status_code in (202, 409), answer.text
    api_tables = {t.name for t in catalog.API_TABLES}

    def all_synced() -> bool:
        tables = browser.ok("GET", "/api/v1/sources/acme/tables")
        done = {t["name"] for t in tables if t["last_success"] is not None}
        return api_tables <= done and not any(t["running"] for t in tables)

    wait_until(all_synced, "every App API table to sync", timeout=120)
    if answer.status_code == 202:
        return int(answer.json()["id"])
    runs = browser.ok("GET", "/api/v1/sources/acme/runs?limit=1")
    assert runs and runs[0]["status"] == "succeeded"
    return 1


def test_the_flow_and_no_secret_in_any_response(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str,
    workspace: Workspace,
) -> None:

    # 1. The key is checked at once; a wrong one gets the CLI's message, beside its field.
    wrong = browser.send("POST", "/api/v1/sources/check-key", {
        "region": "us", "app_api_key": "not-the-key", "api_base_url": sandbox.url})
    assert wrong.status_code == 400 and wrong.json()["field"] == "app_api_key"
    assert "HTTP 401" in wrong.json()["error"] and "Track API key" in wrong.json()["error"]
    checked = browser.ok("POST", "/api/v1/sources/check-key", {
        "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url})
    assert checked["workspaces"]

    # 2. Link it.
    source = browser.ok("POST", "/api/v1/sources", {
        "name": "acme", "region": "us", "app_api_key": f"  {api_key}\n",
        "api_base_url": sandbox.url, "frequency_seconds": 3600}, status=201)
    assert source["app_api_key_set"] is True and source["signing_key_set"] is False
    assert source["frequency_seconds"] == 3600 and len(source["tables"]) == 17
    taken = browser.send("POST", "/api/v1/sources", {
        "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url})
    assert taken.status_code == 409 and taken.json()["field"] == "name"

    # 3. The webhook registers itself on the receiver's URL (the default public base URL).
    settings = browser.ok("GET", "/api/v1/settings")
    assert settings["public_base_url"] == app.service.receiver_url
    registered = browser.ok("POST", "/api/v1/sources/acme/webhook/register", {})
    assert registered["ok"] and registered["created"]
    assert registered["url"] == f"{app.service.receiver_url}/webhooks/customerio/acme"
    assert registered["webhook"]["disabled"] is True
    webhook_id = registered["webhook"]["id"]
    signing_key = sandbox.signing_key(webhook_id)

    # 4. The signing key enables it.
    saved = browser.ok("PUT", "/api/v1/sources/acme/webhook/signing-key",
                       {"signing_key": signing_key})
    assert saved["enabled"] is True and saved["rotated"] is False
    assert sandbox.webhooks()[0]["disabled"] is False
    assert browser.ok("GET", "/api/v1/sources/acme")["signing_key_set"] is True

    # 5. Before any data: empty charts, not errors.
    assert browser.ok("GET", "/api/v1/sources/acme/activity") == []
    assert browser.ok("GET", "/api/v1/sources/acme/funnels") == []
    missing = browser.send("GET", "/api/v1/warehouse/tables/acme/campaigns")
    assert missing.status_code == 404 and "sync" in missing.json()["error"]

    # 6. Sync now, and watch it.
    job_id = _sync_everything(browser)
    tables = {t["name"]: t for t in browser.ok("GET", "/api/v1/sources/acme/tables")}
    campaigns = tables["campaigns"]
    assert campaigns["last_success"]["rows"] == workspace.expected_rows("campaigns")
    assert campaigns["frequency_seconds"] == 3600 and campaigns["next_run_at"] is not None
    assert tables["email_events"]["sync_method"] == "webhook"
    assert tables["email_events"]["frequency_seconds"] is None

    # 7. Customer.io (the sandbox) delivers; the loader puts the events in the warehouse.
    sent = sandbox.send(400)
    assert sum(sent.queued.values()) > 0
    assert sandbox.wait_delivered(30)

    def loaded() -> dict[str, Any] | None:
        status = browser.ok("GET", "/api/v1/sources/acme/webhook")
        health = status["health"]
        done = health["stored"] >= sum(sent.queued.values()) and health["backlog"] == 0
        return status if done and health["deliveries_last_hour"] > 0 else None

    status = wait_until(loaded, "the deliveries to reach the warehouse", timeout=60)
    assert status["registered"] and status["remote"]["disabled"] is False
    assert status["remote_error"] is None and status["health"]["rejected"] == 0
    assert status["assessment"]["level"] == "ok"

    # 8. Activity per day, channel and metric, and funnels with names, from `deliveries`.
    activity = browser.ok("GET", "/api/v1/sources/acme/activity?days=30")
    reached = " + ".join(
        f"count({m}_at)" for m in catalog.MESSAGE_METRICS)  # deliveries that reached each metric
    [[expected]] = browser.ok("POST", "/api/v1/query", {"sql": (
        f"select {reached} from acme.deliveries where channel is not null")})["rows"]
    assert sum(a["events"] for a in activity) == expected > 0
    assert {"email"} <= {a["channel"] for a in activity}
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", a["day"]) for a in activity)
    funnels = browser.ok("GET", "/api/v1/sources/acme/funnels?kind=campaign")
    assert funnels and all(f["kind"] == "campaign" for f in funnels)
    top = funnels[0]
    assert top["sent"] > 0 and top["name"]
    assert top["sent"] >= top["delivered"] >= top["opened"] >= top["clicked"]
    # The same numbers straight from the event tables, written another way: a delivery counts
    # at a stage when it reached that stage or a later one.
    union = " union all ".join(
        f"select delivery_id, metric, campaign_id from acme.{t}"
        for t in ("email_events", "push_events", "sms_events", "in_app_events", "slack_events",
                  "webhook_events")
    )
    stages = ("sent", "delivered", "opened", "clicked")
    for depth, metric in enumerate(stages):
        later = ", ".join(f"'{m}'" for m in stages[depth:])
        [[count]] = browser.ok("POST", "/api/v1/query", {"sql": (
            f"select count(distinct delivery_id) from ({union}) "
            f"where campaign_id = {top['id']} and metric in ({later})")})["rows"]
        assert top[metric] == count, metric
    named = browser.ok("POST", "/api/v1/query", {
        "sql": f"select name from acme.campaigns where id = {top['id']}"})
    assert named["rows"] == [[top["name"]]]

    # 9. The table browser.
    listed = browser.ok("GET", "/api/v1/warehouse/tables?source=acme")
    counts = {t["table"]: t["rows"] for t in listed}
    assert counts["campaigns"] == workspace.expected_rows("campaigns")
    assert not any(t.startswith("_dlt") for t in counts)
    preview = browser.ok("GET", "/api/v1/warehouse/tables/acme/campaigns?limit=5")
    assert preview["row_count"] == counts["campaigns"] and len(preview["rows"]) == 5
    assert {"id", "name"} <= {c["name"] for c in preview["columns"]}
    bad_sql = browser.send("POST", "/api/v1/query", {"sql": "drop table acme.campaigns"})
    assert bad_sql.status_code == 400 and "read-only" in bad_sql.json()["error"]

    # 10. Every GET route of the app, as the browser and as a bearer caller: no stored secret.
    service_token = json.loads(app.service.data_dir.service_file.read_text())["token"]
    secrets = {"App API key": api_key, "signing key": signing_key,
               "admin token": app.admin_token, "service token": service_token}
    web_app = app.service_app
    assert isinstance(web_app, FastAPI)
    params = {"name": "acme", "source": "acme", "table": "campaigns", "job_id": str(job_id),
              "nonce": "x", "path": "css/app.css"}
    gets = [path for method, path in _routes(list(web_app.routes)) if method == "GET"]
    assert {"/api/v1/sources/{name}/webhook", "/api/v1/openapi.json", "/login"} <= set(gets)
    with app.admin() as bearer:
        for template in gets:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: params.get(m.group(1), "x"), template)
            for client in (browser.http, bearer):
                answer = client.get(path)
                assert answer.status_code < 500, f"{path}: {answer.status_code}"
                for what, secret in secrets.items():
                    assert secret not in answer.text, f"{path} sends the {what} back"
                    assert secret not in str(answer.headers), f"{path} headers: the {what}"

    # 11. Settings: tables drive the webhook's events; a wrong new key changes nothing.
    only_api = browser.ok("PATCH", "/api/v1/sources/acme", {"tables": ["campaigns"]})
    assert only_api["tables"] == ["campaigns"]
    assert sandbox.webhooks()[0]["disabled"] is True  # nothing left to deliver
    back = browser.ok("PATCH", "/api/v1/sources/acme", {
        "tables": ["campaigns", "email_events"], "table_frequencies": {"campaigns": 300}})
    assert back["table_frequencies"] == {"campaigns": 300}
    [hook] = sandbox.webhooks()
    assert hook["disabled"] is False and all(e.startswith("email_") for e in hook["events"])
    refused = browser.send("PATCH", "/api/v1/sources/acme", {"app_api_key": "wrong-key"})
    assert refused.status_code == 400 and refused.json()["field"] == "app_api_key"
    assert browser.ok("POST", "/api/v1/sources/check-key", {
        "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url})

    # 12. Removing the source deletes its webhook at Customer.io.
    assert browser.send("DELETE", "/api/v1/sources/acme").status_code == 204
    assert sandbox.webhooks() == []
    assert browser.get("/api/v1/sources/acme").status_code == 404


def test_settings_build_webhook_urls_from_the_public_base_url(
    app: RunningApp, browser: Browser, sandbox: SandboxServer, api_key: str
) -> None:
    bad = browser.send("PUT", "/api/v1/settings", {"public_base_url": "cio.example.com"})
    assert bad.status_code == 400 and bad.json()["field"] == "public_base_url"
    saved = browser.ok("PUT", "/api/v1/settings",
                       {"public_base_url": "https://cio.example.com/proxy/"})
    assert saved["public_base_url"] == "https://cio.example.com/proxy"
    assert saved["public_base_url_is_default"] is False
    browser.ok("POST", "/api/v1/sources", {
        "name": "acme", "region": "us", "app_api_key": api_key, "api_base_url": sandbox.url,
        "tables": ["email_events"]}, status=201)
    expected = "https://cio.example.com/proxy/webhooks/customerio/acme"
    assert browser.ok("GET", "/api/v1/sources/acme")["webhook_url"] == expected
    registered = browser.ok("POST", "/api/v1/sources/acme/webhook/register", {})
    assert registered["url"] == expected and sandbox.webhooks()[0]["endpoint"] == expected
    reset = browser.ok("PUT", "/api/v1/settings", {"public_base_url": None})
    assert reset["public_base_url"] == app.service.receiver_url


def test_registration_failure_comes_back_with_the_manual_steps(
    browser: Browser, workspace: Workspace, api_key: str
) -> None:
    with SandboxServer(workspace, api_key=api_key,
                       forbidden_paths=["/v1/reporting_webhooks"]) as sandbox:
        browser.ok("POST", "/api/v1/sources", {
            "name": "acme", "region": "us", "app_api_key": api_key,
            "api_base_url": sandbox.url, "tables": ["email_events"]}, status=201)
        outcome = browser.ok("POST", "/api/v1/sources/acme/webhook/register", {})
    assert outcome["ok"] is False and outcome["webhook"] is None
    assert "may not manage reporting webhooks" in outcome["failure"]
    assert any("Reporting Webhooks" in step for step in outcome["steps"])


def test_refused_event_names_come_back_as_a_notice_not_manual_steps(
    browser: Browser, workspace: Workspace, api_key: str
) -> None:
    """A live workspace answering 400 naming events: registered without them, said in the
    registration and in the webhook's status (docs/customerio-behaviour.md)."""
    with SandboxServer(workspace, api_key=api_key, webhook_events="live",
                       refused_webhook_events=["email_deferred", "email_spammed"]) as sandbox:
        browser.ok("POST", "/api/v1/sources", {
            "name": "acme", "region": "us", "app_api_key": api_key,
            "api_base_url": sandbox.url, "tables": ["email_events"]}, status=201)
        outcome = browser.ok("POST", "/api/v1/sources/acme/webhook/register", {})
        status = browser.ok("GET", "/api/v1/sources/acme/webhook")
    assert outcome["ok"] is True and outcome["steps"] == []
    assert outcome["refused"] == ["email_spammed"]
    assert "email_spammed" not in outcome["events"] and "email_sent" in outcome["events"]
    assert "Customer.io refused 1 event name (email_spammed)" in outcome["notice"]
    assert status["missing_events"] == ["email_spammed"]
    assert "not subscribed to email_spammed" in status["missing_notice"]
