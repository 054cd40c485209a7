"""The delivery generator: deterministic by seed, joined to the workspace, plausible funnels."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from cio_warehouse.sandbox import Workspace
from cio_warehouse.sandbox.deliveries import DeliveryGenerator, ReportingEvent
from cio_warehouse.sandbox.event_catalog import SENDABLE_SUBSCRIPTIONS
from cio_warehouse.sandbox.webhooks import SUBSCRIBABLE_EVENTS

from .conftest import example

ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def digest(seed: int, count: int = 500, start: int | None = None) -> str:
    gen = DeliveryGenerator(Workspace.preset("small", seed=seed), start=start)
    return hashlib.sha256(b"\n".join(e.to_bytes(True) for e in gen.events(count))).hexdigest()


def test_same_seed_same_events() -> None:
    assert digest(3) == digest(3)
    gen = DeliveryGenerator(Workspace.preset("small", seed=3))
    assert gen.event("email", "clicked", index=1) == gen.event("email", "clicked", index=1)


def test_other_seed_or_start_other_events() -> None:
    assert digest(3) != digest(4)
    assert digest(3) != digest(3, start=1_720_000_000)


def test_same_events_in_another_process() -> None:
    code = ("from tests.sandbox.test_deliveries import digest;"
            "print(digest(3))")
    env = {**os.environ, "PYTHONHASHSEED": "777"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, cwd=os.getcwd()).stdout.strip()
    assert out == digest(3)


@pytest.fixture(scope="module")
def stream() -> list[ReportingEvent]:
    return DeliveryGenerator(Workspace.preset("small", seed=8)).events(4_000)


@pytest.fixture(scope="module")
def from_scratch() -> list[ReportingEvent]:
    """No warm-up: every delivery in it is seen from its first event on."""
    return DeliveryGenerator(Workspace.preset("small", seed=8), warmup_s=0).events(4_000)


def test_event_ids_are_unique_ulids(stream: list[ReportingEvent]) -> None:
    ids = [event.event_id for event in stream]
    assert len(set(ids)) == len(ids)
    assert all(ULID.fullmatch(event_id) for event_id in ids)
    # ULIDs sort by time: the first 10 characters encode the event's milliseconds.
    assert ids[0][:10] <= ids[-1][:10]


def test_envelope_and_timestamps(stream: list[ReportingEvent]) -> None:
    start = DeliveryGenerator(Workspace.preset("small", seed=8)).start
    previous = start
    for event in stream:
        body = event.body(True)
        assert list(body) == ["metric", "event_id", "object_type", "timestamp", "data"]
        assert isinstance(body["timestamp"], int) and body["timestamp"] >= previous
        previous = body["timestamp"]
        identifiers = body["data"]["identifiers"]
        assert set(identifiers) == {"id", "email", "cio_id"} and identifiers["cio_id"]


def test_ids_join_the_workspace_tables() -> None:
    workspace = Workspace.preset("small", seed=8)
    campaigns = {row["id"]: row for row in workspace.rows("campaigns")}
    broadcasts = {row["id"]: row for row in workspace.rows("broadcasts")}
    newsletters = {row["id"]: row for row in workspace.rows("newsletters")}
    transactional = {row["id"] for row in workspace.rows("transactional")}
    seen: Counter[str] = Counter()
    for event in DeliveryGenerator(workspace).events(3_000):
        data = event.payload["data"]
        if "campaign_id" in data:
            actions = {action.get("id") for action in campaigns[data["campaign_id"]]["actions"]}
            assert data["action_id"] in actions
            if "parent_action_id" in data:
                assert data["parent_action_id"] in actions - {data["action_id"]}
            seen["campaign"] += 1
        elif "broadcast_id" in data:
            actions = {action.get("id") for action in broadcasts[data["broadcast_id"]]["actions"]}
            assert data["action_id"] in actions and isinstance(data["trigger_id"], int)
            seen["broadcast"] += 1
        elif "newsletter_id" in data:
            assert data["content_id"] in newsletters[data["newsletter_id"]]["content_ids"]
            seen["newsletter"] += 1
        elif "transactional_message_id" in data:
            assert data["transactional_message_id"] in transactional
            assert event.object_type in ("email", "push")
            seen["transactional"] += 1
        else:
            assert event.subscription in ("customer_subscribed", "customer_unsubscribed")
    assert set(seen) == {"campaign", "broadcast", "newsletter", "transactional"}


def test_newsletter_channel_matches_its_type() -> None:
    workspace = Workspace.preset("small", seed=8)
    types = {row["id"]: row["type"] for row in workspace.rows("newsletters")}
    for event in DeliveryGenerator(workspace).events(2_000):
        newsletter = event.payload["data"].get("newsletter_id")
        if newsletter is not None and not event.subscription.startswith("customer_"):
            assert types[newsletter] == event.object_type


ORDER = {"drafted": 0, "attempted": 1, "sent": 2, "delivered": 3, "bounced": 3, "opened": 4,
         "clicked": 5, "replied": 5, "converted": 6}
AFTER_DELIVERED = {"unsubscribed", "spammed"}  # any time after delivery (and after an open)
TERMINAL = {"failed", "undeliverable", "dropped"}


def test_funnels_are_plausible(from_scratch: list[ReportingEvent]) -> None:
    """Per delivery: one channel and person; failures end it; first occurrences in funnel order
    (sent, delivered, opened, clicked, converted) at non-decreasing timestamps."""
    deliveries: dict[str, list[ReportingEvent]] = defaultdict(list)
    for event in from_scratch:
        if not event.subscription.startswith("customer_"):
            deliveries[event.payload["data"]["delivery_id"]].append(event)
    for events in deliveries.values():
        metrics = [event.metric for event in events]
        assert len({event.object_type for event in events}) == 1
        assert len({repr(event.payload["data"]["identifiers"]) for event in events}) == 1
        if TERMINAL & set(metrics):
            assert len(metrics) == 1 + metrics.count("drafted") + metrics.count("attempted")
        assert not ({"bounced", "delivered"} <= set(metrics)), metrics
        firsts = [event for event in events if not event.repeat]
        # A synthetic open is inferred at the click's time (spec: email_opened.synthetic).
        ranks = [ORDER[e.metric] - (e.metric == "opened" and bool(e.payload["data"].get(
            "synthetic"))) for e in firsts if e.metric in ORDER]
        assert ranks == sorted(ranks), metrics
        assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
        for late in AFTER_DELIVERED & set(metrics):
            assert metrics.index(late) > metrics.index("delivered"), metrics
            if "opened" in metrics and late == "unsubscribed":
                assert metrics.index(late) > metrics.index("opened"), metrics


def test_mix_is_email_dominant_with_small_failure_rates(stream: list[ReportingEvent]) -> None:
    types = Counter(event.object_type for event in stream)
    assert types.most_common(1)[0][0] == "email" and types["email"] > len(stream) / 2
    assert len(types) == 7 + 1  # seven channels and customer
    metrics = Counter(event.subscription for event in stream)
    failing = sum(metrics[f"email_{m}"] for m in ("bounced", "dropped", "failed"))
    assert 0 < failing < metrics["email_sent"] / 10
    assert metrics["email_delivered"] > metrics["email_opened"] > metrics["email_clicked"] > 0


def test_repeats_only_after_a_first(from_scratch: list[ReportingEvent]) -> None:
    firsts = set()
    for event in from_scratch:
        key = (event.payload["data"].get("delivery_id"), event.subscription)
        if event.repeat:
            assert key in firsts and event.metric in ("opened", "clicked")
        firsts.add(key)
    assert any(event.repeat for event in from_scratch)


def test_stream_sends_only_subscribable_events(stream: list[ReportingEvent]) -> None:
    names = {event.subscription for event in stream}
    assert names <= SUBSCRIBABLE_EVENTS & SENDABLE_SUBSCRIPTIONS
    assert "customer_subscription_preferences_changed" in SUBSCRIBABLE_EVENTS


def test_customer_events_from_channels() -> None:
    gen = DeliveryGenerator(Workspace.preset("tiny", seed=2))
    changed = gen.event("email", "cio_subscription_preferences_changed")
    assert changed.subscription == "customer_subscription_preferences_changed"
    assert changed.object_type == "email"
    assert changed.metric == "cio_subscription_preferences_changed"
    unsubscribed = gen.event("email", "unsubscribed", customer=True)
    assert unsubscribed.subscription == "customer_unsubscribed"
    assert set(unsubscribed.payload["data"]) == {"customer_id", "email_address", "identifiers"}
    assert gen.event("email", "unsubscribed").subscription == "email_unsubscribed"
    with pytest.raises(ValueError):
        gen.event("slack", "opened")


def test_from_payload_routes_published_examples() -> None:
    assert ReportingEvent.from_payload(example("webhook_email_sent")).subscription == "email_sent"
    customer = ReportingEvent.from_payload(example("webhook_customer_subscribed"))
    assert customer.subscription == "customer_subscribed"


def test_a_workspace_without_messages_streams_customer_events() -> None:
    empty = Workspace(5, campaigns=0, broadcasts=0, newsletters=0, transactional=0)
    events = DeliveryGenerator(empty).events(30)
    assert {event.subscription for event in events} <= {
        "customer_subscribed", "customer_unsubscribed"}
    assert DeliveryGenerator(empty).combinations() == [
        (object_type, metric, None)
        for object_type in ("customer", "email", "push", "sms", "whatsapp", "in_app", "slack",
                            "webhook")
        for metric in ("subscribed", "unsubscribed")]
