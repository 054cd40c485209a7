"""Which table a reporting-webhook event goes to: by object_type, plus the customer rules."""

from __future__ import annotations

from collections.abc import Mapping

from cio_warehouse import catalog

CUSTOMER_TABLE = "customer_events"
UNROUTED_TABLE = catalog.UNROUTED_EVENTS.name

# The catalog says which object_type each table takes (whatsapp too): one lookup per event.
_BY_OBJECT_TYPE: dict[str, str] = {
    object_type: table.name
    for table in catalog.EVENT_TABLES
    for object_type in table.object_types
}

# Subscription changes are customer events whatever `object_type` says: Customer.io sets it to
# the channel that triggered the change (customer_event_common / person_cio_subscription_
# preferences_changed in the spec: "If the subscription change wasn't triggered from a message
# ... the object_type is customer").
_PREFERENCES_CHANGED = "cio_subscription_preferences_changed"
_SUBSCRIPTION_METRICS = frozenset({"subscribed", "unsubscribed"})

# `<object_type>_<metric>` a channel table subscribes to itself (email_unsubscribed): for these the
# payload's shape decides.
_CHANNEL_EVENTS: frozenset[str] = frozenset(
    event for table in catalog.EVENT_TABLES if table.name != CUSTOMER_TABLE
    for event in table.events
)


def route(object_type: object, metric: object, data: object) -> str:
    """The table for one event; every event gets one (unknown types go to unrouted_events)."""
    if metric == _PREFERENCES_CHANGED:
        return CUSTOMER_TABLE
    if metric in _SUBSCRIPTION_METRICS and object_type != "customer" and _is_customer_change(
        object_type, metric, data
    ):
        return CUSTOMER_TABLE
    if isinstance(object_type, str):
        return _BY_OBJECT_TYPE.get(object_type, UNROUTED_TABLE)
    return UNROUTED_TABLE


def _is_customer_change(object_type: object, metric: object, data: object) -> bool:
    """A (un)subscribe that a channel triggered, rather than that channel's own metric.

    No channel has a `subscribed` metric, so that one is always the customer's. `unsubscribed` is
    also an email metric (email_unsubscribed: "the recipient unsubscribed based on a particular
    message"), whose data carries `recipient` and `subject`; the customer event's data requires
    `email_address` (customer_event_common) and has no recipient.
    """
    if f"{object_type}_{metric}" not in _CHANNEL_EVENTS:
        return True
    return isinstance(data, Mapping) and "email_address" in data and "recipient" not in data
