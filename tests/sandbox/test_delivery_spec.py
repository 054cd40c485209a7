"""Every payload the sandbox's sender can produce validates against Customer.io's official schema.

The schema is the `oneOf` request body of `webhooks.reportingWebhook.post` in the published
OpenAPI document (cio_openapi/journeys-webhooks.json), $refs resolved into `components.schemas`.

Spec quirks found (each pinned by a test below, none silently worked around):
- `push_drafted` declares `metric` enum ["attempted"]: a push drafted event matches no branch and
  a push attempted event matches two (push_drafted and push_attempted), so oneOf rejects both.
  They are checked against a copy with only that enum fixed, and the official document is
  asserted to reject them, so a corrected spec makes test_push_drafted_quirk fail loudly.
- The published examples `email_sent` and `sms_sent` carry `broadcast_id` without `trigger_id`,
  which the broadcast branch of event_common_data requires; `email_sent` also lacks `subject`.
- Not blocking, but shaping the generator: person_cio_subscription_preferences_changed spells its
  property `object_type_type` (so `object_type` is unconstrained there) and requires a
  broadcast, campaign or newsletter delivery even for object_type `customer`; only email and push
  (event_common_data) allow a transactional parentage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cio_warehouse.sandbox import Workspace
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.event_catalog import CUSTOMER_OBJECT_TYPES

from .conftest import example
from .spec_schema import load_spec, official, with_push_drafted_fixed

KNOWN_QUIRKS = {("push", "drafted"), ("push", "attempted")}
_NOTES_BY_INDEX = {("email", "opened"): 3, ("email", "clicked"): 2}


@pytest.fixture(scope="module")
def generator() -> DeliveryGenerator:
    return DeliveryGenerator(Workspace.preset("small", seed=21))


def every_variant(gen: DeliveryGenerator) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(label, body, is_message_event) for every kind x origin x with_content x payload note."""
    for object_type, metric, origin in gen.combinations():
        for index in range(_NOTES_BY_INDEX.get((object_type, metric), 1)):
            event = gen.event(object_type, metric, origin=origin, index=index)
            customer = event.subscription.startswith("customer_")
            label = f"{object_type}/{metric}/{origin}/{index}"
            yield label, event.body(False), not customer
            if event.content:
                yield label + "/with_content", event.body(True), not customer


def spec_kinds() -> set[tuple[str, str]]:
    """(object_type, metric) of every schema the body's oneOf reaches, named by the spec."""
    schemas = load_spec()["components"]["schemas"]
    body = load_spec()["webhooks"]["reportingWebhook"]["post"]["requestBody"]
    kinds = set()
    for family in body["content"]["application/json"]["schema"]["oneOf"]:
        name = family["$ref"].rsplit("/", 1)[1]  # e.g. email_event
        for branch in schemas[name]["oneOf"]:
            schema = branch["$ref"].rsplit("/", 1)[1]  # e.g. email_clicked, person_subscribed
            if name == "customer_event":
                kinds.add(("customer", schema.removeprefix("person_")))
            else:
                object_type = name.removesuffix("_event")
                kinds.add((object_type, schema.removeprefix(object_type + "_")))
    return kinds


def test_every_spec_kind_is_generated(generator: DeliveryGenerator) -> None:
    combos = generator.combinations()
    generated = {(ot, metric) for ot, metric, _ in combos}
    expected = spec_kinds()
    customer_metrics = {metric for ot, metric in expected if ot == "customer"}
    assert len(expected) == 69
    # Customer events also arrive with the channel that triggered them as object_type.
    expected |= {(ot, metric) for ot in CUSTOMER_OBJECT_TYPES for metric in customer_metrics}
    assert generated == expected
    origins = {(ot, origin) for ot, metric, origin in combos if metric == "sent"}
    assert {origin for ot, origin in origins if ot == "email"} == {
        "campaign", "broadcast", "newsletter", "transactional"}
    assert {origin for ot, origin in origins if ot == "slack"} == {"campaign", "broadcast"}


def test_every_event_kind_validates(generator: DeliveryGenerator) -> None:
    failures = []
    checked = 0
    for label, body, message_event in every_variant(generator):
        quirky = message_event and (body["object_type"], body["metric"]) in KNOWN_QUIRKS
        validator = with_push_drafted_fixed() if quirky else official()
        checked += 1
        if not validator.is_valid(body):
            failures.append((label, validator.explain(body)))
    assert failures == []
    assert checked > 280


def test_push_drafted_quirk(generator: DeliveryGenerator) -> None:
    """The official document rejects every push drafted/attempted event; the one-enum fix
    accepts them: the only reason they fail is the spec's slip."""
    for origin in generator.origins.kinds("push"):
        for metric in ("drafted", "attempted"):
            body = generator.event("push", metric, origin=origin).body(False)
            assert not official().is_valid(body), (metric, origin)
            assert with_push_drafted_fixed().is_valid(body), (metric, origin)
    # The fix changes nothing else: other push metrics are valid under both.
    sent = generator.event("push", "sent").body(True)
    assert official().is_valid(sent) and with_push_drafted_fixed().is_valid(sent)


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("list", tuple(sorted({repr(shape(item)) for item in value})))
    return type(value).__name__


def test_realistic_stream_validates(generator: DeliveryGenerator) -> None:
    """1,500 streamed events, one of each distinct payload shape checked (validity depends on
    keys and types only), with and without body content."""
    seen: dict[Any, dict[str, Any]] = {}
    for event in generator.events(1_500):
        for with_content in (False, True):
            body = event.body(with_content)
            seen.setdefault((body["object_type"], body["metric"], shape(body["data"])), body)
    failures = []
    for body in seen.values():
        message_event = "delivery_id" in body["data"] and body["metric"] not in (
            "subscribed", "cio_subscription_preferences_changed")
        quirky = message_event and (body["object_type"], body["metric"]) in KNOWN_QUIRKS
        validator = with_push_drafted_fixed() if quirky else official()
        if not validator.is_valid(body):
            failures.append(validator.explain(body))
    assert failures == []
    assert len(seen) > 60


def test_with_content_adds_only_content_and_headers(generator: DeliveryGenerator) -> None:
    for object_type in ("email", "push", "sms", "whatsapp", "in_app", "slack", "webhook"):
        event = generator.event(object_type, "sent")
        plain, full = event.body(False)["data"], event.body(True)["data"]
        assert "content" not in plain and isinstance(full["content"], str)
        assert set(full) - set(plain) <= {"content", "headers"}
        assert {k: v for k, v in full.items() if k in plain} == plain
    preferences = generator.event("email", "cio_subscription_preferences_changed")
    topics = json.loads(preferences.body(True)["data"]["content"])["topics"]
    assert topics and all(key.startswith("topic_") for key in topics)
    assert "content" not in preferences.body(False)["data"]


def test_official_examples() -> None:
    """The spec's three examples through the same validator: one passes; two lack fields the
    schema requires, and adding exactly those makes them pass."""
    assert official().is_valid(example("webhook_customer_subscribed"))

    sms = example("webhook_sms_sent")
    assert not official().is_valid(sms)
    assert official().is_valid({**sms, "data": {**sms["data"], "trigger_id": 1}})

    email = example("webhook_email_sent")
    assert not official().is_valid(email)
    assert not official().is_valid({**email, "data": {**email["data"], "trigger_id": 1}})
    assert not official().is_valid({**email, "data": {**email["data"], "subject": "Hi"}})
    assert official().is_valid(
        {**email, "data": {**email["data"], "trigger_id": 1, "subject": "Hi"}})


def test_fast_validator_agrees_with_jsonschema(generator: DeliveryGenerator) -> None:
    """The quick oneOf in spec_schema.py gives jsonschema's own verdict, valid or not."""
    bodies = [example(f"webhook_{name}") for name in ("customer_subscribed", "email_sent")]
    kinds = [("email", "clicked"), ("push", "attempted"), ("sms", "replied"),
             ("email", "cio_subscription_preferences_changed")]
    for object_type, metric in kinds:
        body = generator.event(object_type, metric).body(True)
        bodies.append(body)
        data = body["data"]
        bodies.append({**body, "data": {k: v for k, v in data.items() if k != "delivery_id"}})
        bodies.append({**body, "data": {**data, "link_id": "one"}})
        bodies.append({**body, "metric": "teleported"})
    stock, fast = official().stock, official().fast
    verdicts = [(bool(fast.is_valid(body)), bool(stock.is_valid(body))) for body in bodies]
    assert all(f == s for f, s in verdicts)
    assert {f for f, _ in verdicts} == {True, False}
