"""The event names we subscribe to are the official delivery spec's, derived once as data."""

from __future__ import annotations

from typing import Any

import pytest

from cio_warehouse import catalog
from cio_warehouse.customerio.errors import RequestError
from cio_warehouse.webhooks.registration import (
    named_in_400,
    subscribed_events,
    without_refused,
)
from cio_warehouse.webhooks.spec_events import SPEC_METRICS
from tests.sandbox.spec_schema import metric_branches


def _spec_metrics() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for object_type, branch, names in metric_branches():
        if branch == "push_drafted":
            names = {"drafted"}  # its enum says "attempted": a slip (spec_events.py)
        found.setdefault(object_type, set()).update(names)
    return found


def test_spec_metrics_are_the_spec_enums() -> None:
    assert {k: set(v) for k, v in SPEC_METRICS.items()} == _spec_metrics()


def test_subscriptions_follow_the_spec_not_the_old_list() -> None:
    every = subscribed_events([t.name for t in catalog.WEBHOOK_TABLES])
    assert "slack_undeliverable" in every and "push_drafted" in every
    for undocumented in ("email_deferred", "sms_dropped", "slack_converted", "webhook_converted"):
        assert undocumented not in every
    assert "customer_subscription_preferences_changed" in every
    assert len(every) == len(set(every))
    assert subscribed_events(["email_events"]) == [f"email_{m}" for m in SPEC_METRICS["email"]]


def _refusal(text: str) -> RequestError:
    return RequestError(status=400, path="/v1/reporting_webhooks", body_excerpt=text,
                        method="POST")


def test_a_400_naming_events_is_retried_without_them() -> None:
    calls: list[list[str]] = []

    def create(names: list[str]) -> dict[str, Any]:
        calls.append(names)
        # Two per answer, as a body cut at 200 characters might name them.
        refused = [n for n in names if n.startswith("in_app_")][:2]
        if refused:
            raise _refusal(f'{{"meta":{{"error":"invalid event(s): {", ".join(refused)}"}}}}')
        return {"id": 1, "events": names}

    events = subscribed_events(["email_events", "in_app_events"])
    webhook, refused = without_refused(create, events)
    assert refused == [e for e in events if e.startswith("in_app_")]
    assert webhook["events"] == [e for e in events if e.startswith("email_")]
    assert len(calls) == 1 + (len(refused) + 1) // 2


@pytest.mark.parametrize(
    "body", ["endpoint is required", "invalid event(s): email_sent, email_opened"]
)
def test_a_400_naming_none_or_all_of_them_is_raised(body: str) -> None:
    def create(names: list[str]) -> dict[str, Any]:
        raise _refusal(body)

    with pytest.raises(RequestError):
        without_refused(create, ["email_sent", "email_opened"])


def test_names_are_matched_whole() -> None:
    # email_sent must not be read as refused when the body names email_sent_extra.
    error = _refusal("invalid event(s): email_sent_extra, xemail_opened")
    assert named_in_400(error, ["email_sent", "email_opened"]) == []
