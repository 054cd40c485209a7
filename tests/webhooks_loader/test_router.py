"""Routing by object_type: every event the spec documents, the customer rules, whatsapp, unknown."""

from __future__ import annotations

import pytest

from cio_warehouse import catalog
from cio_warehouse.webhooks.router import route

from .builders import SpecEvent, example, spec_events

SPEC_EVENTS = list(spec_events())
CHANNEL_TABLES = {t.object_types[0]: t.name for t in catalog.WEBHOOK_TABLES}


def expected_table(ev: SpecEvent) -> str:
    if ev.family == "customer_event":
        return "customer_events"
    if ev.object_type == "whatsapp":
        return "whatsapp_events"
    return CHANNEL_TABLES[ev.object_type]


def test_the_spec_documents_every_channel_and_metric() -> None:
    assert {e.object_type for e in SPEC_EVENTS} == {*CHANNEL_TABLES, "whatsapp"}
    assert len(SPEC_EVENTS) >= 80


@pytest.mark.parametrize("ev", SPEC_EVENTS, ids=lambda e: f"{e.schema}-{e.object_type}")
def test_every_spec_event_routes_to_its_table(ev: SpecEvent) -> None:
    p = ev.payload
    assert route(p["object_type"], p["metric"], p["data"]) == expected_table(ev)


def test_the_published_examples_route_by_object_type() -> None:
    for name, table in [
        ("customer_subscribed", "customer_events"),
        ("email_sent", "email_events"),
        ("sms_sent", "sms_events"),
    ]:
        p = example(name)
        assert route(p["object_type"], p["metric"], p["data"]) == table, name


@pytest.mark.parametrize("object_type", [*CHANNEL_TABLES, "whatsapp", "customer", "new_channel"])
def test_preferences_changed_is_a_customer_event_whatever_the_channel(object_type: str) -> None:
    data = {"delivery_id": "D1", "email_address": "a@b.c", "identifiers": {"id": "1"}}
    assert route(object_type, "cio_subscription_preferences_changed", data) == "customer_events"


def test_email_unsubscribed_stays_an_email_event() -> None:
    """email_unsubscribed (spec) carries recipient and subject; the customer one email_address."""
    message = {"delivery_id": "D1", "recipient": "a@b.c", "subject": "Hi", "identifiers": {}}
    person = {"customer_id": "1", "email_address": "a@b.c", "identifiers": {"id": "1"}}
    assert route("email", "unsubscribed", message) == "email_events"
    assert route("email", "unsubscribed", person) == "customer_events"
    assert route("email", "subscribed", person) == "customer_events"
    assert route("sms", "unsubscribed", message) == "customer_events"  # sms has no such metric


@pytest.mark.parametrize(
    ("object_type", "metric"),
    [("fax", "sent"), ("Email", "sent"), ("", "sent"), (None, "sent"), (7, "opened"),
     ({"a": 1}, "sent")],
)
def test_unknown_object_types_are_kept_in_unrouted_events(object_type: object, metric: str) -> None:
    assert route(object_type, metric, {}) == "unrouted_events"


def test_metric_is_free_text() -> None:
    for metric in ["sent", "new_metric_2031", "", None, 42, "Opened"]:
        assert route("push", metric, {}) == "push_events"
