"""The webhook sender against real receiving servers: signatures, routing, retries, knobs."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.server import DEFAULT_DELIVERY_GAP_MS
from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS

from .conftest import KEY, client_for, example
from .receiver import Answer, Received, Receiver

SCALE = 0.0001  # retry delays: Customer.io's hour becomes 0.36 s, a minute 6 ms
TIMEOUT = 0.3  # the sender's "4 s" for these tests
ALL = sorted(SUBSCRIBABLE_EVENTS)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Workspace.preset("tiny", seed=4), api_key=KEY, rate_limit_rps=None,
                       retry_time_scale=SCALE, delivery_timeout_s=TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    """One receiving server for the module; each test scripts it with `rx.scripted(...)`."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def sb(server: SandboxServer) -> Iterator[SandboxServer]:
    """One sandbox for the module; each test starts with no webhooks, queues, log or knobs."""
    policy = server.sender.policy
    yield server
    server.stop_stream()
    for hook in server.webhooks():
        server.state.webhooks.delete(hook["id"])
    server.retry_now()  # backing-off queues wake, find their webhook gone and drop their backlog
    assert server.wait_delivered(5)
    server.sender.policy = policy
    server.clear_delivery_log()


def register(sb: SandboxServer, endpoint: str, events: list[str] = ALL, **flags: Any) -> int:
    """Create a reporting webhook through the App API, as the product does."""
    with client_for(sb) as client:
        response = client.post("/v1/reporting_webhooks", json={
            "name": endpoint, "endpoint": endpoint, "events": events, **flags})
    response.raise_for_status()
    webhook_id: int = response.json()["id"]
    return webhook_id


def expected_signature(key: str, request: Received) -> str:
    """Recomputed here from the spec's prose: HMAC-SHA256(key, "v0:" + timestamp + ":" + body)."""
    message = b"v0:" + request.headers["x-cio-timestamp"].encode() + b":" + request.body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def ids(requests: list[Received]) -> list[str | None]:
    return [request.event_id for request in requests]


def test_signed_json_one_event_per_post(sb: SandboxServer, rx: Receiver) -> None:
    with rx.scripted():
        hook = register(sb, rx.url)
        sent = sb.send(8)
        assert sb.wait_delivered(10)
        received = rx.received()
    key = sb.signing_key(hook)
    assert ids(received) == sent.event_ids and sent.queued == {hook: 8}
    now = time.time()
    for request in received:
        assert request.headers["content-type"] == "application/json"
        assert abs(int(request.headers["x-cio-timestamp"]) - now) < 30
        assert request.headers["x-cio-signature"] == expected_signature(key, request)
        assert set(orjson.loads(request.body)) == {
            "metric", "event_id", "object_type", "timestamp", "data"}
    stats = sb.delivery_stats()[hook]
    assert (stats.queued, stats.delivered, stats.pending, stats.failed_attempts) == (8, 8, 0, 0)
    assert [(a.event_id, a.attempt, a.status, a.ok) for a in sb.delivery_log()] == [
        (event_id, 1, 200, True) for event_id in sent.event_ids]


def test_only_enabled_subscribed_webhooks_receive(sb: SandboxServer, rx: Receiver) -> None:
    with rx.scripted():
        everything = register(sb, rx.url + "/all")
        disabled = register(sb, rx.url + "/disabled", disabled=True)
        email_sent = register(sb, rx.url + "/email-sent", events=["email_sent"])
        unique = register(sb, rx.url + "/unique", full_resolution=False)
        content = register(sb, rx.url + "/content", with_content=True)
        events = sb.sender.next_events(150)
        assert sb.send(events).event_ids == [event.event_id for event in events]
        assert sb.wait_delivered(15)
        paths: dict[str, list[Received]] = {}
        for request in rx.received():
            paths.setdefault(request.path, []).append(request)
    all_ids = [event.event_id for event in events]
    assert ids(paths["/hook/all"]) == all_ids
    assert "/hook/disabled" not in paths
    assert ids(paths["/hook/email-sent"]) == [
        event.event_id for event in events if event.subscription == "email_sent"]
    # full_resolution false: "the first time they happen" only, no repeated opens or clicks.
    assert ids(paths["/hook/unique"]) == [event.event_id for event in events if not event.repeat]
    assert any(event.repeat for event in events)
    # with_content: `content` (and email `headers`) only on sent events, only for that webhook.
    for request in paths["/hook/content"]:
        body = orjson.loads(request.body)
        assert ("content" in body["data"]) == (body["metric"] == "sent")
    for request in paths["/hook/all"]:
        assert "content" not in orjson.loads(request.body)["data"]
    stats = sb.delivery_stats()
    assert stats[disabled].queued == 0 and stats[everything].delivered == 150
    assert stats[email_sent].delivered == len(paths["/hook/email-sent"])
    assert stats[unique].delivered + stats[content].delivered > 0


def test_customer_subscription_names(sb: SandboxServer, rx: Receiver) -> None:
    """The metric cio_subscription_preferences_changed is subscribed as
    customer_subscription_preferences_changed, whatever channel triggered it."""
    gen = sb.generator
    with rx.scripted():
        register(sb, rx.url, events=["customer_subscription_preferences_changed",
                                     "customer_unsubscribed"])
        batch = [gen.event("email", "cio_subscription_preferences_changed"),
                 gen.event("customer", "unsubscribed"),
                 gen.event("email", "unsubscribed"),  # the email metric: not subscribed here
                 gen.event("email", "sent")]
        sb.send(batch)
        assert sb.wait_delivered(5)
        received = rx.received()
    assert ids(received) == [batch[0].event_id, batch[1].event_id]
    assert orjson.loads(received[0].body)["metric"] == "cio_subscription_preferences_changed"


def test_created_disabled_then_enabled(sb: SandboxServer, rx: Receiver) -> None:
    """The product's safe order: create disabled, fetch the signing key, then enable."""
    with rx.scripted(), client_for(sb) as client:
        hook = register(sb, rx.url, disabled=True)
        sb.send(5)
        assert sb.wait_delivered(5) and rx.received() == []
        body = {"name": "n", "endpoint": rx.url, "events": ALL, "disabled": False}
        assert client.put(f"/v1/reporting_webhooks/{hook}", json=body).status_code == 200
        later = sb.send(5)
        assert sb.wait_delivered(5)
        assert ids(rx.received()) == later.event_ids


def test_retry_with_backoff_blocks_the_queue(sb: SandboxServer, rx: Receiver) -> None:
    """A 500 is retried after Customer.io's hour (scaled), and later deliveries wait behind it."""
    with rx.scripted([Answer(500)]):
        hook = register(sb, rx.url)
        sent = sb.send(3)
        assert sb.wait_delivered(10)
        received = rx.received()
    first, second, third = sent.event_ids
    assert ids(received) == [first, first, second, third]
    assert [r.answered for r in received] == [500, 200, 200, 200]
    log = sb.delivery_log()
    assert [(a.event_id, a.attempt, a.status) for a in log] == [
        (first, 1, 500), (first, 2, 200), (second, 1, 200), (third, 1, 200)]
    assert log[0].next_retry_s == pytest.approx(3_600 * SCALE)
    # The retry waited at least the (scaled) hour and carried a fresh timestamp and signature.
    assert received[1].arrived - received[0].arrived >= 3_600 * SCALE * 0.9
    key = sb.signing_key(hook)
    assert all(r.headers["x-cio-signature"] == expected_signature(key, r) for r in received)
    assert received[0].body == received[1].body
    stats = sb.delivery_stats()[hook]
    assert (stats.delivered, stats.failed_attempts, stats.retries, stats.pending) == (3, 1, 1, 0)
    assert stats.blocked is False and stats.last_status == 200


def test_slower_than_the_timeout_is_a_failure(sb: SandboxServer, rx: Receiver) -> None:
    """A 2xx after the timeout does not count: the event is sent again (a duplicate event_id
    for the receiver), and the next event waits until then."""
    with rx.scripted([Answer(200, delay_s=TIMEOUT + 0.15)]):
        hook = register(sb, rx.url)
        sent = sb.send(2)
        assert sb.wait_delivered(10)
        received = rx.received()
    first, second = sent.event_ids
    assert ids(received) == [first, first, second]
    log = sb.delivery_log()
    assert log[0].status is None and log[0].error is not None and "timeout" in log[0].error
    # Not an "hour" failure: the ordinary backoff's first step (60 s nominal).
    assert log[0].next_retry_s == pytest.approx(60 * SCALE)
    assert [a.ok for a in log] == [False, True, True]
    assert sb.delivery_stats()[hook].retries == 1


def test_statuses_after_which_customer_io_waits_an_hour(sb: SandboxServer, rx: Receiver) -> None:
    scale = sb.configure_sender(retry_time_scale=SCALE / 4).time_scale
    with rx.scripted([Answer(503), Answer(429), Answer(302)]):
        register(sb, rx.url)
        sb.send(1)
        assert sb.wait_delivered(10)
        assert len(rx.received()) == 4
    delays = [a.next_retry_s for a in sb.delivery_log()]
    # 503: ordinary backoff (60 s); 429: an hour, doubled for the second retry; 302: no 2xx.
    assert delays == [pytest.approx(60 * scale), pytest.approx(7_200 * scale),
                      pytest.approx(240 * scale), None]


def test_gives_up_after_the_retry_window(sb: SandboxServer, rx: Receiver) -> None:
    # A window of 5,000 s instead of 7 days, and a faster clock for this test.
    # The window (5,000 s) sits 1,400 s from both retries (3,600 s and 7,200 s): at 10x SCALE
    # that is 1.4 s of real time, so a loaded machine cannot push a retry across it.
    sb.sender.policy = replace(sb.sender.policy, give_up_after_s=5_000, time_scale=SCALE * 10)
    with rx.scripted([Answer(500)] * 10):
        hook = register(sb, rx.url)
        sent = sb.send(2)
        assert sb.wait_delivered(10)
        received = rx.received()
    first, second = sent.event_ids
    # Waits an hour after the first 500; the next wait (2 h) would end past the window: give up.
    assert ids(received) == [first, first, second, second]  # the second event also got a 500
    stats = sb.delivery_stats()[hook]
    assert (stats.given_up, stats.delivered, stats.pending) == (2, 0, 0)


def test_refused_connection_blocks_until_disabled(sb: SandboxServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    hook = register(sb, f"http://127.0.0.1:{port}/hook")
    sb.configure_sender(retry_time_scale=1.0)  # a real hour: the queue stays blocked
    sb.send(3)
    deadline = time.monotonic() + 5
    while not sb.delivery_log() and time.monotonic() < deadline:
        time.sleep(0.01)
    attempt = sb.delivery_log()[0]
    assert attempt.error is not None and attempt.error.startswith("connect")
    assert attempt.next_retry_s == pytest.approx(3_600)
    stats = sb.delivery_stats()[hook]
    assert stats.blocked and stats.pending == 3 and not sb.wait_delivered(0.05)
    # Disabling the webhook drops its backlog (after retry_now ends the hour's wait).
    with client_for(sb) as client:
        client.put(f"/v1/reporting_webhooks/{hook}", json={
            "name": "n", "endpoint": f"http://127.0.0.1:{port}/hook", "events": ALL,
            "disabled": True}).raise_for_status()
    sb.retry_now()
    assert sb.wait_delivered(5)
    stats = sb.delivery_stats()[hook]
    assert (stats.dropped, stats.pending, stats.delivered) == (3, 0, 0)


def test_retry_now_skips_the_wait(sb: SandboxServer, rx: Receiver) -> None:
    sb.configure_sender(retry_time_scale=1.0)
    with rx.scripted([Answer(401)]):
        register(sb, rx.url)
        sb.send(1)
        rx.wait_for(1)
        assert not sb.wait_delivered(0.1)
        sb.retry_now()
        assert sb.wait_delivered(5)
        assert [r.answered for r in rx.received()] == [401, 200]


def test_duplicate_knob(sb: SandboxServer, rx: Receiver) -> None:
    with rx.scripted():
        hook = register(sb, rx.url)
        first = sb.send(4)
        assert sb.wait_delivered(5)
        again = sb.send(2, mode="duplicate")
        assert sb.wait_delivered(5)
        received = rx.received()
    assert again.event_ids == first.event_ids[-2:] and again.queued == {hook: 2}
    assert ids(received) == first.event_ids + first.event_ids[-2:]
    assert [r.body for r in received[4:]] == [r.body for r in received[2:4]]
    key = sb.signing_key(hook)
    assert all(r.headers["x-cio-signature"] == expected_signature(key, r) for r in received)
    assert [a.mode for a in sb.delivery_log()][-2:] == ["duplicate", "duplicate"]
    assert sb.delivery_stats()[hook].delivered == 6


def test_reorder_knob(sb: SandboxServer, rx: Receiver) -> None:
    with rx.scripted():
        register(sb, rx.url)
        sent = sb.send(20, mode="reorder")
        assert sb.wait_delivered(5)
        stamps = [orjson.loads(r.body)["timestamp"] for r in rx.received()]
    assert len(stamps) == 20 and stamps == sorted(stamps, reverse=True)
    assert stamps != sorted(stamps) and len(set(sent.event_ids)) == 20


def test_probe_knobs(sb: SandboxServer, rx: Receiver) -> None:
    """stale, bad_signature, bad_body, unsigned: sent once to each target whatever it subscribes
    to, never retried, never blocking the queue, even when the receiver rejects them."""
    with rx.scripted([Answer(401)] * 4):
        hook = register(sb, rx.url, events=["email_sent"])
        sb.send(1, mode="stale", stale_by_s=600)
        sb.send(1, mode="bad_signature")
        sb.send(1, mode="bad_body")
        sb.send(1, mode="unsigned")
        assert sb.wait_delivered(5)
        stale, forged, bad_body, unsigned = rx.received()
    key = sb.signing_key(hook)
    assert int(stale.headers["x-cio-timestamp"]) <= time.time() - 590
    assert stale.headers["x-cio-signature"] == expected_signature(key, stale)
    assert forged.headers["x-cio-signature"] != expected_signature(key, forged)
    assert len(forged.headers["x-cio-signature"]) == 64
    assert bad_body.headers["x-cio-signature"] == expected_signature(key, bad_body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad_body.body)
    assert "x-cio-signature" not in unsigned.headers and unsigned.event_id
    stats = sb.delivery_stats()[hook]
    assert (stats.probes, stats.retries, stats.pending, stats.queued) == (4, 0, 0, 0)
    assert [a.mode for a in sb.delivery_log()] == ["stale", "bad_signature", "bad_body",
                                                    "unsigned"]


def test_stream_and_stop(sb: SandboxServer, rx: Receiver) -> None:
    with rx.scripted():
        register(sb, rx.url)
        sb.stream(400, count=60)
        assert sb.wait_delivered(10)
        assert len(rx.received()) == 60 and not sb.sender.streaming
        sb.stream(200)  # unbounded
        rx.wait_for(70)
        sb.stop_stream()
        assert not sb.sender.streaming and sb.wait_delivered(5)
        settled = len(rx.received())
        time.sleep(0.05)
        assert len(rx.received()) == settled
    types = {orjson.loads(r.body)["object_type"] for r in rx.received()}
    assert "email" in types and len(types) > 2


def test_app_api_answers_while_a_delivery_hangs(sb: SandboxServer, rx: Receiver) -> None:
    """The sender has its own thread and loop: App API requests do not queue behind it."""
    sb.configure_sender(timeout_s=5.0)
    with rx.scripted([Answer(200, delay_s=0.6)]), client_for(sb) as client:
        register(sb, rx.url)
        sb.send(1)
        rx.wait_for(1)
        statuses = [client.get("/v1/campaigns").status_code for _ in range(20)]
        held = sb.delivery_log() == []  # the POST has still not been answered
        assert sb.wait_delivered(5)
    assert statuses == [200] * 20 and held


def test_control_routes(sb: SandboxServer, rx: Receiver) -> None:
    base = sb.url + "/_sandbox/"
    with rx.scripted(), httpx.Client(base_url=base) as control:
        hook = register(sb, rx.url)
        queued = control.post("deliveries", json={"count": 5})
        assert queued.status_code == 200 and queued.json()["queued"] == {str(hook): 5}
        waited = control.post("deliveries/wait", json={"timeout": 5}).json()
        assert waited["delivered"] and waited["stats"][str(hook)]["delivered"] == 5
        listed = control.get("deliveries", params={"limit": 3}).json()
        assert len(listed["attempts"]) == 3 and listed["attempts"][-1]["ok"] is True
        assert control.post("deliveries", json={"count": 1, "mode": "stale"}).status_code == 200
        published = example("webhook_customer_subscribed")
        given = control.post("deliveries", json={"events": [published]}).json()
        assert given == {"event_ids": [published["event_id"]], "queued": {str(hook): 1}}
        assert control.post("deliveries", json={"rate": 500, "count": 10}).json() == {
            "streaming": True}
        assert control.post("deliveries/wait", json={"timeout": 5}).json()["delivered"]
        assert control.post("deliveries", json={"rate": 100}).json()["streaming"] is True
        assert control.delete("deliveries").json() == {"streaming": False}
        assert control.put("sender", json={"retry_time_scale": 0.5}).json()[
            "retry_time_scale"] == 0.5
        assert control.post("deliveries/retry_now").json() == {"ok": True}
        bad_bodies: list[dict[str, Any]] = [
            {"mode": "nope"}, {"count": "5"}, {"rate": 5, "mode": "stale"}, {"duration": 3},
            {"count": -1}, {"events": {}}, {"events": [1]}]
        for bad in bad_bodies:
            assert control.post("deliveries", json=bad).status_code == 400, bad
        assert control.post("deliveries", content=b"[").status_code == 400
        assert control.post("deliveries", json={"webhook_id": 999}).status_code == 404
        assert control.put("sender", json={"timeout_s": 0}).status_code == 400
        assert control.post("deliveries/wait", json={"timeout": 5}).json()["delivered"]
    assert len({r.event_id for r in rx.received()}) >= 5 + 1 + 1 + 10


def test_events_start_makes_deliveries_repeatable() -> None:
    workspace = Workspace.preset("tiny", seed=9)
    # The sandbox's generator: its delivery gap is the one history shares (server.py).
    expected = DeliveryGenerator(workspace, start=1_720_000_000,
                                 mean_gap_ms=DEFAULT_DELIVERY_GAP_MS).events(5)
    with SandboxServer(workspace, api_key=KEY, events_start=1_720_000_000) as server:
        assert [e.event_id for e in server.sender.next_events(5)] == [
            e.event_id for e in expected]


def test_send_needs_a_running_sandbox_and_known_webhooks(sb: SandboxServer) -> None:
    with pytest.raises(KeyError):
        sb.send(1, webhook_id=999)
    with pytest.raises(ValueError):
        sb.send(1, mode="sideways")  # type: ignore[arg-type]
    idle = SandboxServer(Workspace.preset("tiny"), api_key=KEY)
    with pytest.raises(RuntimeError):
        idle.send(1)
