"""One message sent to one person (a delivery): the facts every event about it repeats."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.event_ids import delivery_id, ulid
from cio_warehouse.sandbox.origins import Origin
from cio_warehouse.sandbox.people import Device, Person
from cio_warehouse.sandbox.rng import RowRandom

_HOOKS = ("Your order has shipped", "We miss you", "Your weekly digest", "New features inside",
          "Your trial ends soon", "Thanks for signing up", "A gift for you", "Reset your password",
          "Your receipt", "3 tips to get started")
_PATHS = ("pricing", "account", "blog/whats-new", "orders", "docs/getting-started", "offers",
          "settings/notifications", "cart", "events", "help")
_SLACK_TARGETS = ("#growth-alerts", "#sales", "#customer-success", "#ops", "#general")
_TRACKED_RESPONSES = ("accept", "dismiss", "learn_more", "upgrade", "remind_me_later")
_SENDERS = ("+14155550100", "+14155550101", "+12125550199", "+442071838750")


@dataclass(frozen=True)
class Message:
    channel: str
    person: Person
    origin: Origin
    delivery_id: str
    started_ms: int
    subject: str
    links: tuple[tuple[int, str], ...]  # (link_id, href) of the tracked links
    recipient: str  # the address, number, URL or channel the message went to
    sender: str  # the number an SMS or WhatsApp came from: `to` of a reply
    devices: tuple[Device, ...]  # push: the person's devices it went to
    content: str  # the body `content` of *_sent events when with_content
    headers: dict[str, list[str]] | None  # email custom headers (sent, with_content)
    extra: dict[str, Any]  # per-origin ids: journey_id, trigger_id, trigger_event_id, ...

    def common_data(self) -> dict[str, Any]:
        """The fields of event_common_data / other_event_common_data for this message's origin.

        Spec branches: broadcast (trigger_id, broadcast_id, delivery_id, action_id), campaign
        (campaign_id, delivery_id, action_id), newsletter (newsletter_id, delivery_id),
        transactional (transactional_message_id, delivery_id); all with identifiers.
        """
        origin = self.origin
        data: dict[str, Any] = {
            "delivery_id": self.delivery_id, "customer_id": self.person.customer_id,
            "identifiers": self.person.identifiers(),
        }
        if origin.kind == "campaign":
            data["campaign_id"] = origin.id
            data["action_id"] = origin.action_id
        elif origin.kind == "broadcast":
            data["broadcast_id"] = origin.id
            data["action_id"] = origin.action_id
        elif origin.kind == "newsletter":
            data["newsletter_id"] = origin.id
        else:
            data["transactional_message_id"] = origin.id
        data.update(self.extra)
        return data


def make_message(
    channel: str, person: Person, origin: Origin, r: RowRandom, started_ms: int,
) -> Message:
    """A delivery of `origin` to `person` over `channel`, all draws from `r`."""
    subject = f"{r.pick(_HOOKS)} | {origin.name}"
    if origin.kind == "transactional":  # named like "receipt 3": "Your receipt"
        subject = f"Your {origin.name.rsplit(' ', 1)[0]}"
    base = f"https://www.example.com/{r.pick(_PATHS)}"
    links = tuple(
        (link_id, f"{base}?utm_source=customerio&utm_medium={channel}&utm_content=link{link_id}")
        for link_id in range(1, r.between(2, 5))
    )
    extra = _origin_extra(origin, r, started_ms)
    if origin.kind == "newsletter":
        extra["content_id"] = r.pick(origin.content_ids)
    devices = person.devices[: r.between(1, max(1, len(person.devices)))]
    recipient = _recipient(channel, person, r)
    content = _content(channel, subject, person, links, recipient)
    headers = None
    if channel == "email" and r.chance(30):
        # Only emails with custom headers carry `headers` (email_sent.data.headers).
        headers = {"X-Campaign-Tag": [origin.name], "X-Priority": [r.pick(("1", "3", "5"))]}
    return Message(
        channel=channel, person=person, origin=origin, delivery_id=delivery_id(r),
        started_ms=started_ms, subject=subject, links=links, recipient=recipient,
        sender=r.pick(_SENDERS), devices=devices, content=content, headers=headers, extra=extra,
    )


def pick_tracked_response(r: RowRandom) -> str:
    """An in-app component's *Action Name* (in_app_clicked.tracked_response)."""
    return r.pick(_TRACKED_RESPONSES)


def _origin_extra(origin: Origin, r: RowRandom, started_ms: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if origin.kind in ("campaign", "broadcast"):
        # journey_id: "the path a person went through in a Campaign or API Triggered Broadcast".
        extra["journey_id"] = ulid(started_ms - r.below(86_400_000), r)
        if origin.sibling_action_ids and r.chance(20):
            # parent_action_id: set when the action sits under a parent such as a random split.
            extra["parent_action_id"] = r.pick(origin.sibling_action_ids)
    if origin.kind == "broadcast":
        # trigger_id: what the Trigger Broadcast API returned for the run that sent this.
        extra["trigger_id"] = r.between(1, 5_000)
    if origin.kind == "campaign":
        # trigger_event_id: "string or null": the event that triggered an event campaign.
        extra["trigger_event_id"] = ulid(started_ms - 1_000, r) if origin.event_triggered else None
    return extra


def _recipient(channel: str, person: Person, r: RowRandom) -> str:
    if channel == "email":
        return person.email or ""
    if channel in ("sms", "whatsapp"):
        return person.phone
    if channel == "in_app":
        # "The ID or email address of the person the message was sent to."
        return person.id or person.email or person.cio_id
    if channel == "slack":
        return r.pick(_SLACK_TARGETS)
    if channel == "webhook":
        # webhook_sent.recipient: "The URL the webhook was sent to."
        return f"https://hooks.example.com/services/{r.hex(12)}"
    return person.id or person.cio_id


def _content(
    channel: str, subject: str, person: Person, links: tuple[tuple[int, str], ...], recipient: str,
) -> str:
    """The stringified body Customer.io puts in `content` (per channel: HTML, text or JSON)."""
    href = links[0][1]
    name = (person.email or "there").split(".")[0].title()
    if channel == "email":
        return (f"<html><body><h1>{subject}</h1><p>Hi {name},</p>"
                f'<p><a href="{href}">Take a look</a></p></body></html>')
    if channel in ("sms", "whatsapp"):
        return f"Hi {name}! {subject}: {href} Reply STOP to opt out."
    if channel == "push":
        return json.dumps({"title": subject, "body": f"Hi {name}, tap to see more.", "link": href})
    if channel == "in_app":
        return json.dumps({"type": "modal", "title": subject, "button": {"href": href}})
    if channel == "slack":
        return json.dumps({"channel": recipient, "text": f"{subject} <{href}|details>"})
    return json.dumps({"event": "message", "subject": subject, "url": href})
