"""The alert loop against a real state store, inbox, HTTP endpoint and SMTP server: one message
when an incident starts and one when it ends, across restarts; failing channels back off."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from cio_warehouse.backoff import Backoff
from cio_warehouse.ops import alerts
from cio_warehouse.service.alert_monitor import AlertMonitor
from cio_warehouse.state import StateStore
from cio_warehouse.webhooks.inbox import Inbox, Kind, Submission, inbox_location
from tests.alerts.endpoints import HttpEndpoint, SmtpServer
from tests.helpers import add_source, run_cli

pytestmark = pytest.mark.timeout(120)


class Clock:
    """Real time plus an offset the test moves forward (the store records real times)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _monitor(store: StateStore, clock: Clock) -> AlertMonitor:
    return AlertMonitor(store, inbox_location(store.data_dir), clock=clock,
                        retry=Backoff(60.0, 600.0))


def _fail(store: StateStore, table: str, error: str) -> None:
    run = store.start_run("acme", table)
    store.finish_run(run, status="failed", rows=None, pages=None, retries=2, error=error)


def _succeed(store: StateStore, table: str) -> None:
    run = store.start_run("acme", table)
    store.finish_run(run, status="succeeded", rows=42, pages=1, retries=0)


@pytest.fixture
def own_smtp() -> Iterator[SmtpServer]:
    """An SMTP server whose password no other test knows (see the end of the test below)."""
    with SmtpServer(password="pw-" + secrets.token_hex(8)) as server:
        yield server


def test_one_message_per_change_across_restarts_with_no_secret(
    store: StateStore, endpoint: HttpEndpoint, own_smtp: SmtpServer
) -> None:
    smtp = own_smtp
    add_source(store, api_key="key-" + secrets.token_hex(16), tables=("segments", "campaigns"))
    key = store.get_source("acme").app_api_key.reveal()
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/hook/tok0123456789")
    alerts.add_channel(store, "chat", slack="https://hooks.slack.example/services/T/B/x")
    alerts.add_channel(store, "mail", email="oncall@example.com", smtp_url=smtp.url())
    alerts.remove_channel(store, "chat")  # an https URL this test cannot serve
    _succeed(store, "campaigns")
    # An error text that quotes the key, a channel's URL and the SMTP password (as a careless
    # library might): none of them may reach a message.
    _fail(store, "segments", f"401 Unauthorized: the App API key {key} was refused (see "
                             f"{endpoint.url}/hook/tok0123456789, {smtp.recorder.password}).")
    clock = Clock()

    fired = _monitor(store, clock).tick()
    assert [(n.source, n.table, n.kind, n.state) for n in fired] == [
        ("acme", "segments", "sync_failed", "firing")]
    [body] = endpoint.bodies("/hook/tok0123456789")
    assert (body["source"], body["table"], body["kind"], body["state"]) == (
        "acme", "segments", "sync_failed", "firing")
    assert "acme.segments" in body["message"] and "401 Unauthorized" in body["message"]
    [mail] = smtp.messages
    assert "acme.segments" in mail["Subject"] and "FIRING" in mail["Subject"]
    for text in (str(body), mail.as_string()):
        assert key not in text
        assert "tok0123456789" not in text
        assert smtp.recorder.password not in text

    _fail(store, "segments", "401 again")  # a retry that fails again: no new message
    assert _monitor(store, clock).tick() == []  # and a restart neither repeats nor forgets
    assert len(endpoint.received) == 1 and len(smtp.messages) == 1

    _succeed(store, "segments")
    again = _monitor(store, clock)
    resolved = again.tick()
    assert [(n.kind, n.state) for n in resolved] == [("sync_failed", "resolved")]
    assert again.tick() == [] and _monitor(store, clock).tick() == []
    assert [b["state"] for b in endpoint.bodies("/hook/tok0123456789")] == ["firing", "resolved"]
    assert len(smtp.messages) == 2 and "RESOLVED" in smtp.messages[1]["Subject"]
    # The key and password are in state.db's run history only because this test wrote them
    # into a run's error; the session's secrets scan (which learns the keys of the sources
    # left in each state.db) is about what the product writes.
    store.remove_source("acme")
    alerts.remove_channel(store, "mail")


def test_a_stale_table_fires_after_twice_its_frequency(store: StateStore,
                                                       endpoint: HttpEndpoint) -> None:
    add_source(store, tables=("segments",))  # every 6 hours
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    _succeed(store, "segments")
    clock = Clock()
    monitor = _monitor(store, clock)
    assert monitor.tick() == []
    clock.offset = 11 * 3600
    assert monitor.tick() == []
    clock.offset = 13 * 3600
    [stale] = monitor.tick()
    assert (stale.table, stale.kind, stale.state) == ("segments", "stale", "firing")
    assert "13 hours" in stale.message and "6 hours" in stale.message
    clock.offset = 0
    assert [(n.kind, n.state) for n in monitor.tick()] == [("stale", "resolved")]


def test_dropped_and_dead_lettered_deliveries_fire_once(
    store: StateStore, inbox: Inbox, endpoint: HttpEndpoint
) -> None:
    add_source(store, tables=("email_events",))  # no signing key: deliveries are dropped
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    clock = Clock()
    monitor = _monitor(store, clock)
    assert monitor.tick() == []
    inbox.write([Submission("acme", Kind.DROPPED, time.time()) for _ in range(3)])
    inbox.write([Submission("acme", Kind.DEAD_LETTER, time.time(), b"not json", None, "not JSON")])
    fired = {n.kind: n for n in monitor.tick()}
    assert set(fired) == {"dropped", "dead_letters"}
    assert "3 webhook deliveries for acme were dropped" in fired["dropped"].message
    assert "1 new webhook deliveries" in fired["dead_letters"].message
    inbox.write([Submission("acme", Kind.DEAD_LETTER, time.time(), b"[]", None, "no event_id")])
    assert monitor.tick() == []  # still firing: one message, not one per dead letter
    clock.offset = 2 * 3600
    assert [(n.kind, n.state) for n in monitor.tick()] == [("dead_letters", "resolved")]
    assert [(b["kind"], b["state"]) for b in endpoint.bodies("/h")] == [
        ("dropped", "firing"), ("dead_letters", "firing"), ("dead_letters", "resolved")]


def test_a_failing_channel_backs_off_shows_in_status_and_catches_up_in_order(
    store: StateStore, endpoint: HttpEndpoint
) -> None:
    add_source(store, tables=("segments",))
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    endpoint.status = 503
    clock = Clock()
    monitor = _monitor(store, clock)
    _fail(store, "segments", "boom")
    monitor.tick()
    _succeed(store, "segments")
    monitor.tick()  # backing off: not tried again
    assert len(endpoint.received) == 1
    [failing] = alerts.failing_channels(store)
    assert failing.failures == 1 and "answered HTTP 503" in failing.last_error
    status = run_cli(store.data_dir, "status", "acme")
    assert "Alert channel hook (webhook) is failing: 1 attempt in a row" in status.stdout
    assert "failing" in run_cli(store.data_dir, "alert", "list").stdout

    endpoint.status = 200
    clock.offset = 61  # past the first backoff (60 s)
    monitor.tick()
    assert [b["state"] for _, b in endpoint.received] == ["firing", "firing", "resolved"]
    assert alerts.failing_channels(store) == []


def test_an_incident_of_a_deselected_table_resolves(store: StateStore,
                                                    endpoint: HttpEndpoint) -> None:
    source = add_source(store, tables=("segments", "campaigns"))
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    _fail(store, "segments", "boom")
    _succeed(store, "campaigns")
    monitor = _monitor(store, Clock())
    assert [(n.table, n.state) for n in monitor.tick()] == [("segments", "firing")]
    store.update_source(replace(source, tables=("campaigns",)))
    [resolved] = monitor.tick()
    assert (resolved.table, resolved.kind, resolved.state) == ("segments", "sync_failed",
                                                               "resolved")
    assert "no longer checked" in resolved.message
    assert monitor.tick() == []


def _event(n: int) -> Submission:
    return Submission("acme", Kind.EVENT, time.time(), b'{"event_id": "e%d"}' % n, f"e{n}")


def test_rejections_in_a_row_and_silence_fire_and_resolve(
    store: StateStore, inbox: Inbox, endpoint: HttpEndpoint
) -> None:
    add_source(store, tables=("email_events",), signing_key="whsec-key-1", webhook_id=1)
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    clock = Clock()
    monitor = _monitor(store, clock)
    inbox.write([_event(1)])
    assert monitor.tick() == []
    inbox.write([Submission("acme", Kind.REJECTED, time.time(), reason="bad signature")] * 2)
    assert monitor.tick() == []  # two: a stray probe, perhaps
    inbox.write([Submission("acme", Kind.REJECTED, time.time(), reason="bad signature")])
    [rejected] = monitor.tick()
    assert (rejected.kind, rejected.state) == ("rejected", "firing")
    assert "The last 3 webhook deliveries for acme were rejected" in rejected.message
    inbox.write([_event(2)])
    assert [(n.kind, n.state) for n in monitor.tick()] == [("rejected", "resolved")]

    clock.offset = 25 * 3600  # no delivery for a day while the webhook is enabled
    [silent] = monitor.tick()
    assert (silent.kind, silent.state) == ("silent", "firing") and "25 hours" in silent.message
    clock.offset = 0
    assert [(n.kind, n.state) for n in monitor.tick()] == [("silent", "resolved")]


def test_a_backlog_that_grows_for_its_window_fires(store: StateStore, inbox: Inbox,
                                                   endpoint: HttpEndpoint) -> None:
    add_source(store, tables=("email_events",), signing_key="whsec-key-1", webhook_id=1)
    alerts.add_channel(store, "hook", webhook=f"{endpoint.url}/h")
    clock = Clock()
    monitor = AlertMonitor(store, inbox_location(store.data_dir), clock=clock,
                           backlog_window=600.0)
    for n, offset in enumerate((0, 300)):
        clock.offset = offset
        inbox.write([_event(n)])
        assert monitor.tick() == []  # not watched for a whole window yet
    clock.offset = 601
    inbox.write([_event(2)])
    [backlog] = monitor.tick()
    assert (backlog.kind, backlog.state) == ("backlog", "firing")
    assert "grew from 1 to 3 events in 10 minutes" in backlog.message
    inbox.mark_loaded([e.seq for e in inbox.pending_events(10)])
    clock.offset = 615
    assert [(n.kind, n.state) for n in monitor.tick()] == [("backlog", "resolved")]
