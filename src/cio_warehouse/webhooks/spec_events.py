"""The reporting-webhook event names the official spec lists, per object type (data).

Derived once from Customer.io's delivery spec (docs.customer.io/files/journeys-webhooks.json,
`webhooks.reportingWebhook`: per object type, the `metric` enums of its oneOf branches, in their
order), with two readings: the customer metric `cio_subscription_preferences_changed` is
subscribed to as `customer_subscription_preferences_changed` (customerio-api.md), and the
`push_drafted` branch, whose enum says "attempted" (a slip: its name and title say drafted),
gives "drafted". tests/webhooks/test_spec_events.py derives it again from the spec. Names outside
this list (email_deferred, sms_dropped, ...) are what the live create call refuses
(docs/customerio-behaviour.md).
"""

from __future__ import annotations

SPEC_METRICS: dict[str, tuple[str, ...]] = {
    "customer": ("subscribed", "unsubscribed", "subscription_preferences_changed"),
    "email": (
        "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
        "unsubscribed", "bounced", "dropped", "spammed", "failed", "undeliverable",
    ),
    "push": (
        "drafted", "attempted", "delivered", "sent", "opened", "clicked", "converted", "bounced",
        "dropped", "failed", "undeliverable",
    ),
    "in_app": (
        "drafted", "attempted", "sent", "opened", "clicked", "converted", "failed",
        "undeliverable",
    ),
    "sms": (
        "drafted", "attempted", "sent", "delivered", "clicked", "converted", "bounced",
        "failed", "undeliverable", "replied",
    ),
    "slack": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
    "webhook": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
    "whatsapp": (
        "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
        "bounced", "dropped", "failed", "undeliverable", "replied",
    ),
}


def subscription_names(object_type: str) -> tuple[str, ...]:
    """`<object_type>_<metric>` for each metric the spec lists; none for an unknown type."""
    return tuple(f"{object_type}_{metric}" for metric in SPEC_METRICS.get(object_type, ()))
