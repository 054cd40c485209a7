"""The reporting-webhook events the official spec defines: object types, metrics, subscriptions."""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

OriginKind = Literal["campaign", "broadcast", "newsletter", "transactional"]
ORIGIN_KINDS: tuple[OriginKind, ...] = ("campaign", "broadcast", "newsletter", "transactional")

# Message metrics per object_type, exactly as `components.schemas` of journeys-webhooks.json has a
# schema for them (`<object_type>_<metric>`). The subscribable names in customerio-api.md differ a
# little: email_deferred, sms_dropped, slack_converted and webhook_converted can be subscribed to
# but the spec defines no payload for them, so the sandbox never sends them; slack_undeliverable
# has a payload but cannot be subscribed to, so only `DeliveryGenerator.event()` builds it.
MESSAGE_METRICS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "email": ("drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
              "unsubscribed", "bounced", "dropped", "spammed", "failed", "undeliverable"),
    "push": ("drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
             "bounced", "dropped", "failed", "undeliverable"),
    "sms": ("drafted", "attempted", "sent", "delivered", "clicked", "converted", "bounced",
            "failed", "undeliverable", "replied"),
    "whatsapp": ("drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
                 "bounced", "dropped", "failed", "undeliverable", "replied"),
    "in_app": ("drafted", "attempted", "sent", "opened", "clicked", "converted", "failed",
               "undeliverable"),
    "slack": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
    "webhook": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
})
CHANNELS: tuple[str, ...] = tuple(MESSAGE_METRICS)

# Customer events (person_subscribed, person_unsubscribed, person_cio_subscription_preferences_
# changed). Their object_type is `customer`, or the channel that triggered the change
# (customer_event_common.object_type: "customer", "email", ..., "whatsapp").
CUSTOMER_METRICS: tuple[str, ...] = ("subscribed", "unsubscribed",
                                     "cio_subscription_preferences_changed")
CUSTOMER_OBJECT_TYPES: tuple[str, ...] = ("customer", *CHANNELS)
PREFERENCES_CHANGED = "cio_subscription_preferences_changed"

# event_common_data (email, push) has a transactional_message_id branch;
# other_event_common_data (sms, whatsapp, in_app, slack, webhook) has none, and
# person_cio_subscription_preferences_common allows only broadcast, campaign or newsletter.
_ALL: tuple[OriginKind, ...] = ORIGIN_KINDS
_NO_TRANSACTIONAL: tuple[OriginKind, ...] = ("campaign", "broadcast", "newsletter")
SPEC_ORIGINS: MappingProxyType[str, tuple[OriginKind, ...]] = MappingProxyType({
    channel: _ALL if channel in ("email", "push") else _NO_TRANSACTIONAL for channel in CHANNELS
})
PREFERENCES_ORIGINS: tuple[OriginKind, ...] = _NO_TRANSACTIONAL

# The `<object_type>_<metric>` names a reporting webhook subscribes to (customerio-api.md).
SENDABLE_SUBSCRIPTIONS: frozenset[str] = frozenset(
    [f"{channel}_{metric}" for channel, metrics in MESSAGE_METRICS.items() for metric in metrics]
    + ["customer_subscribed", "customer_unsubscribed", "customer_subscription_preferences_changed"]
)


def subscription_name(object_type: str, metric: str, *, customer_event: bool) -> str:
    """The name a webhook's `events` must list for it to receive this event.

    customerio-api.md: names are `<object_type>_<metric>`, but customer events are subscribed as
    `customer_*` whichever channel triggered them, and the metric
    `cio_subscription_preferences_changed` is subscribed as
    `customer_subscription_preferences_changed`.
    """
    if customer_event:
        if metric == PREFERENCES_CHANGED:
            return "customer_subscription_preferences_changed"
        return f"customer_{metric}"
    return f"{object_type}_{metric}"
