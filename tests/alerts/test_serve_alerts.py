"""The issue's scenario in a running service: a revoked App API key fails the scheduled sync ->
exactly one firing message naming the source and the table on each channel; a good sync ->
exactly one resolved message; no secret in any of them."""

from __future__ import annotations

import threading
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cio_warehouse.ops import alerts
from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.secret import Secret
from cio_warehouse.service.runtime import ServeSettings, Service
from cio_warehouse.state import StateStore
from tests.alerts.endpoints import HttpEndpoint, SmtpServer
from tests.helpers import add_source, free_port, wait_until
from tests.secrets_plugin import remember

pytestmark = pytest.mark.timeout(180)


def test_a_revoked_key_fires_once_and_a_good_sync_resolves_once(
    store: StateStore, sandbox: SandboxServer, api_key: str, endpoint: HttpEndpoint,
    smtp: SmtpServer,
) -> None:
    revoked = "sbx_" + "0" * 40  # the sandbox answers 401 to any key but its own
    source = add_source(store, sandbox, revoked, tables=("segments",), max_rps=0)
    remember(smtp.recorder.password)
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/hook/tok5e3c7e7t0k3n")
    # http: Slack's own URLs are https only, but one to this machine (a relay) may be http.
    alerts.add_channel(store, "slack", slack=f"{endpoint.url}/slack/tok5e3c7e7t0k3n")
    alerts.add_channel(store, "mail", email="oncall@example.com", smtp_url=smtp.url())

    service = Service(store.data_dir, ServeSettings(port=free_port(), webhook_port=free_port()))
    service.alerts.tick_seconds = 0.2  # as in serve (15 s), only sooner
    web = threading.Thread(target=service.run, name="web-app", daemon=True)
    try:
        endpoints = service.start()
        web.start()
        wait_until(lambda: len(endpoint.received) == 2 and smtp.messages,
                   "the firing messages", 60, detail=lambda: (endpoint.received,
                                                              store.runs("acme")))
        [run] = store.runs("acme")
        assert run.status == "failed" and "401" in (run.error or "")

        store.update_source(replace(source, app_api_key=Secret(api_key)))
        service.scheduler.trigger("acme")
        wait_until(lambda: len(endpoint.received) == 4,
                   "the resolved message", 60, detail=lambda: endpoint.received)
        wait_until(lambda: len(smtp.messages) == 2, "the resolved mail", 30)
        service.alerts.tick()  # one more look: nothing new to say
        scraped = httpx.get(f"{endpoints.api_url}/metrics", timeout=30,
                            headers={"Authorization": f"Bearer {service.token}"})
    finally:
        service.request_stop()
        if web.is_alive():
            web.join(timeout=60)
        service.close()

    hook = endpoint.bodies("/hook/tok5e3c7e7t0k3n")
    assert [(b["source"], b["table"], b["kind"], b["state"]) for b in hook] == [
        ("acme", "segments", "sync_failed", "firing"),
        ("acme", "segments", "sync_failed", "resolved"),
    ]
    assert "acme.segments" in hook[0]["message"] and "App API key" in hook[0]["message"]
    assert scraped.status_code == 200
    sent = {
        (sample.labels["channel"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples if sample.name == "cio_warehouse_alert_deliveries_total"
    }
    assert sent == {(c, o): 2 if o == "delivered" else 0
                    for c in ("hook", "mail", "slack") for o in ("delivered", "failed")}
    slack = [b["text"] for b in endpoint.bodies("/slack/tok5e3c7e7t0k3n")]
    assert len(slack) == 2
    assert slack[0].startswith(":red_circle: *[FIRING] acme.segments: sync failed*\n")
    assert slack[1].startswith(":large_green_circle: *[RESOLVED] acme.segments: sync failed*")
    assert [m["Subject"] for m in smtp.messages] == [
        "[cio-warehouse] [FIRING] acme.segments: sync failed",
        "[cio-warehouse] [RESOLVED] acme.segments: sync failed",
    ]
    everything = [str(b) for _, b in endpoint.received] + [m.as_string() for m in smtp.messages]
    for text in everything:
        for secret in (revoked, api_key, smtp.recorder.password, "tok5e3c7e7t0k3n"):
            assert secret not in text
