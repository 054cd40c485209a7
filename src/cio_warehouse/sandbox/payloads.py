"""The `data` object of each event, field by field as the spec's schema for its metric lists."""

from __future__ import annotations

import json
from typing import Any

from cio_warehouse.sandbox.event_ids import ulid
from cio_warehouse.sandbox.funnels import Step
from cio_warehouse.sandbox.messages import Message, pick_tracked_response
from cio_warehouse.sandbox.people import Person
from cio_warehouse.sandbox.rng import RowRandom

Data = dict[str, Any]

_FAILING = frozenset({"attempted", "failed", "undeliverable", "bounced", "dropped"})
_FAILURES: dict[tuple[str, str], tuple[str, ...]] = {
    ("email", "attempted"): ("421 4.7.0 Temporary System Problem. Try again later.",
                             "451 4.3.0 Mail server temporarily rejected message."),
    ("email", "bounced"): ("550 5.1.1 The email account that you tried to reach does not exist.",
                           "552 5.2.2 The recipient's mailbox is full.",
                           "554 5.7.1 Message rejected due to content restrictions."),
    ("email", "dropped"): ("Address is suppressed: it bounced before.",
                           "Address is suppressed: the person reported spam."),
    ("email", "failed"): ("Liquid error: undefined variable customer.first_name",
                          "The message has no From address."),
    ("push", "bounced"): ("BadDeviceToken", "Unregistered", "InvalidRegistration"),
    ("push", "dropped"): ("The device was suppressed after earlier failures.",),
    ("push", "failed"): ("FCM: SENDER_ID_MISMATCH", "APNs: certificate expired"),
    ("push", "attempted"): ("FCM: UNAVAILABLE, will retry", "APNs: ServiceUnavailable"),
    ("sms", "bounced"): ("30003: Unreachable destination handset", "30005: Unknown destination"),
    ("sms", "failed"): ("21610: Attempt to send to unsubscribed recipient",
                        "21211: Invalid 'To' Phone Number"),
    ("whatsapp", "bounced"): ("131026: Message undeliverable",),
    ("whatsapp", "dropped"): ("The number is suppressed.",),
    ("whatsapp", "failed"): ("132001: Template does not exist",),
    ("in_app", "failed"): ("No in-app SDK activity for this person.",),
    ("slack", "failed"): ("channel_not_found", "not_in_channel", "invalid_auth"),
    ("slack", "attempted"): ("ratelimited, will retry",),
    ("webhook", "failed"): ("500 Internal Server Error", "connection refused"),
    ("webhook", "attempted"): ("504 Gateway Timeout, will retry", "timeout after 4s, will retry"),
}
_ANY_UNDELIVERABLE = ("Message limit reached for this person.", "The newsletter was cancelled.",
                      "Delivery is disabled in this environment.")
_ANY_FAILURE = ("Temporary provider error, will retry.", "The provider rejected the message.")


def failure_message(channel: str, metric: str, r: RowRandom) -> str:
    pool = _FAILURES.get((channel, metric))
    if pool is None:
        pool = _ANY_UNDELIVERABLE if metric == "undeliverable" else _ANY_FAILURE
    return r.pick(pool)


def message_data(message: Message, step: Step, r: RowRandom) -> tuple[Data, Data]:
    """`data` of a message event, and the fields only webhooks `with_content` get.

    Which keys appear per metric follows the schemas `<channel>_<metric>` of the spec: e.g.
    email has `recipient` and `subject` on every metric but attempted, push has `recipients[]`
    of devices, in_app opened carries nothing beyond the common data.
    """
    channel, metric = message.channel, step.metric
    data = message.common_data()
    extra: Data = {}
    if metric in _FAILING and not (channel == "push" and metric in ("bounced", "dropped")):
        data["failure_message"] = failure_message(channel, metric, r)
    if channel == "email":
        _email(message, step, r, data, extra)
    elif channel == "push":
        _push(message, metric, r, data, extra)
    else:
        _other(message, step, r, data, extra)
    return dict(sorted(data.items())), extra


def customer_data(
    person: Person, metric: str, message: Message | None, topics: int, r: RowRandom,
) -> tuple[Data, Data]:
    """`data` of a customer event; preference changes also carry the triggering delivery.

    person_cio_subscription_preferences_changed requires one of the broadcast, campaign or
    newsletter branches (delivery_id, action_id, ...), and its `content` (the stringified
    preferences, `topic_<id>` keys) appears only with body content enabled.
    """
    data: Data = {
        "customer_id": person.customer_id, "email_address": person.email,
        "identifiers": person.identifiers(),
    }
    extra: Data = {}
    if message is not None:
        data.update(message.common_data())
        chosen = sorted({r.between(1, max(topics, 1)) for _ in range(r.between(1, 3))})
        preferences = {f"topic_{topic}": r.chance(50) for topic in chosen}
        extra["content"] = json.dumps({"topics": preferences}, separators=(",", ":"))
    return dict(sorted(data.items())), extra


def _link(message: Message, r: RowRandom, data: Data) -> None:
    link_id, href = r.pick(message.links)
    data["link_id"] = link_id
    data["href"] = href


def _email(message: Message, step: Step, r: RowRandom, data: Data, extra: Data) -> None:
    metric = step.metric
    if metric == "attempted":
        return  # email_attempted: failure_message only
    data["recipient"] = message.recipient
    data["subject"] = message.subject
    if metric == "sent":
        extra["content"] = message.content
        if message.headers is not None:
            # "a data.headers object alongside content": only with body content enabled.
            extra["headers"] = message.headers
    elif metric == "opened":
        prefetched = step.note == "prefetched"
        data["proxied"] = prefetched or r.chance(8)
        data["prefetched"] = prefetched
        if step.note == "synthetic":
            data["synthetic"] = True
    elif metric == "clicked":
        _link(message, r, data)
        data["machine"] = step.note == "machine"


def _push(message: Message, metric: str, r: RowRandom, data: Data, extra: Data) -> None:
    if metric in ("drafted", "attempted", "failed", "undeliverable"):
        return
    devices = message.devices
    if metric in ("bounced", "dropped"):
        # push_bounced/push_dropped: every recipient has device_platform and failure_message.
        data["recipients"] = [
            {"device_id": d.device_id, "device_platform": d.platform,
             "failure_message": failure_message("push", metric, r)}
            for d in devices
        ]
        return
    data["recipients"] = [{"device_id": d.device_id, "device_platform": d.platform}
                          for d in devices]
    if metric == "sent":
        extra["content"] = message.content
    elif metric == "clicked":
        _link(message, r, data)


def _other(message: Message, step: Step, r: RowRandom, data: Data, extra: Data) -> None:
    channel, metric = message.channel, step.metric
    if metric in ("drafted", "attempted", "failed", "undeliverable"):
        return
    if channel == "in_app" and metric == "opened":
        return  # in_app_opened: the common data only
    data["recipient"] = message.recipient
    if metric == "sent":
        extra["content"] = message.content
    elif metric == "clicked":
        _link(message, r, data)
        if channel == "in_app":
            data["tracked_response"] = pick_tracked_response(r)
    elif metric == "replied":
        # recipient: the number that replied; to: the number it replied to (the sender).
        data["to"] = message.sender
        data["inbound_event_id"] = ulid(message.started_ms + step.at_ms, r)
