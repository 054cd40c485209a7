"""Reporting webhooks kept in memory, with the signing keys that the API never returns."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.rng import RowRandom, stable_key


def _events(object_type: str, metrics: str) -> frozenset[str]:
    return frozenset(f"{object_type}_{metric}" for metric in metrics.split())


_SMS = ("drafted attempted sent delivered clicked converted bounced dropped failed undeliverable "
        "replied")
# Subscribable names are <object_type>_<metric> (customerio-api.md); note the customer one is
# customer_subscription_preferences_changed although deliveries carry
# cio_subscription_preferences_changed as the metric.
SUBSCRIBABLE_EVENTS: frozenset[str] = (
    _events("customer", "subscribed unsubscribed subscription_preferences_changed")
    | _events("email", "drafted attempted sent delivered opened clicked converted bounced dropped "
                       "deferred spammed failed unsubscribed undeliverable")
    | _events("push", "drafted attempted sent delivered opened clicked converted bounced dropped "
                      "failed undeliverable")
    | _events("sms", _SMS)
    | _events("in_app", "drafted attempted sent opened clicked converted failed undeliverable")
    | _events("slack", "drafted attempted sent clicked converted failed")
    | _events("webhook", "drafted attempted sent clicked converted failed undeliverable")
    | _events("whatsapp", _SMS + " opened")
)

# The names the official delivery spec lists (journeys-webhooks.json: per object_type, the
# `metric` enums of its oneOf, and customer_subscription_preferences_changed for the customer
# metric cio_subscription_preferences_changed). The live create call refuses other names with 400
# naming them (docs/customerio-behaviour.md); the docs' reading accepts SUBSCRIBABLE_EVENTS.
_MESSAGE = "attempted clicked drafted failed sent undeliverable"
SPEC_EVENTS: frozenset[str] = (
    _events("customer", "subscribed unsubscribed subscription_preferences_changed")
    | _events("email", _MESSAGE + " bounced converted delivered dropped opened spammed "
                                  "unsubscribed")
    | _events("push", "attempted bounced clicked converted delivered dropped failed opened sent "
                      "undeliverable")
    | _events("in_app", _MESSAGE + " converted opened")
    | _events("sms", _MESSAGE + " bounced converted delivered replied")
    | _events("slack", _MESSAGE)
    | _events("webhook", _MESSAGE)
    | _events("whatsapp", _MESSAGE + " bounced converted delivered dropped opened replied")
)
EVENT_MODES = ("docs", "live")

# Defaults for fields a create or replace leaves out, as in reporting_webhook_get.json.
_DEFAULTS = {"disabled": False, "full_resolution": True, "with_content": False}


class WebhookError(ValueError):
    """A body the API rejects with 400."""


class UnknownWebhook(KeyError):
    """No reporting webhook with that id: 404."""


@dataclass(frozen=True)
class Deliverable:
    """An enabled webhook and its signing key: what the (future) webhook sender signs with."""

    webhook: dict[str, Any]
    signing_key: str


def validate_body(
    body: object, accepted: frozenset[str] = SUBSCRIBABLE_EVENTS
) -> dict[str, Any]:
    """The stored fields of a create (POST) or a whole-object replace (PUT) body."""
    if not isinstance(body, dict):
        raise WebhookError("the body must be a JSON object")
    name, endpoint, events = body.get("name"), body.get("endpoint"), body.get("events")
    if not isinstance(name, str) or not name.strip():
        raise WebhookError("name is required")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise WebhookError("endpoint is required and must be an http(s) URL")
    if not isinstance(events, list) or not events:
        raise WebhookError("events must list at least one event")
    unknown = [event for event in events if event not in accepted]
    if unknown:
        raise WebhookError(f"invalid event(s): {', '.join(map(str, unknown))}")
    fields: dict[str, Any] = {"name": name, "endpoint": endpoint, "events": list(events)}
    for flag, default in _DEFAULTS.items():
        value = body.get(flag, default)
        if not isinstance(value, bool):
            raise WebhookError(f"{flag} must be true or false")
        fields[flag] = value
    return fields


class WebhookStore:
    """Ids count up from 1; signing keys are random-looking hex, deterministic by seed and id."""

    def __init__(
        self, seed: int = 1, events: str = "docs", refused: frozenset[str] = frozenset(),
    ) -> None:
        """`events`: "docs" accepts every event name the docs use, "live" only the delivery
        spec's (SPEC_EVENTS); `refused`: names refused on top, as a live workspace may."""
        if events not in EVENT_MODES:
            raise ValueError(f"webhook events mode must be one of {EVENT_MODES}, not {events!r}")
        self._seed = seed
        known = SPEC_EVENTS if events == "live" else SUBSCRIBABLE_EVENTS | SPEC_EVENTS
        self.accepted = known - refused
        self._lock = threading.Lock()
        self._webhooks: dict[int, dict[str, Any]] = {}
        self._keys: dict[int, str] = {}
        self._next_id = 1

    def webhooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(hook) for hook in self._webhooks.values()]

    def get(self, webhook_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._find(webhook_id))

    def create(self, body: object) -> dict[str, Any]:
        fields = validate_body(body, self.accepted)
        with self._lock:
            webhook_id = self._next_id
            self._next_id += 1
            # "type" is read-only: webhook for the ones made through the API.
            hook = {"name": fields.pop("name"), "id": webhook_id, "type": "webhook", **fields}
            self._webhooks[webhook_id] = hook
            self._keys[webhook_id] = RowRandom(
                stable_key("cio-sandbox-signing-key", self._seed, webhook_id)
            ).hex(64)
            return copy.deepcopy(hook)

    def replace(self, webhook_id: int, body: object) -> dict[str, Any]:
        """PUT sends the whole object: fields it leaves out go back to their defaults."""
        with self._lock:
            self._find(webhook_id)
            fields = validate_body(body, self.accepted)
            hook = {"name": fields.pop("name"), "id": webhook_id, "type": "webhook", **fields}
            self._webhooks[webhook_id] = hook
            return copy.deepcopy(hook)

    def delete(self, webhook_id: int) -> None:
        with self._lock:
            self._find(webhook_id)
            del self._webhooks[webhook_id]
            del self._keys[webhook_id]

    def signing_key(self, webhook_id: int) -> str:
        """What the user copies from the Reporting Webhooks page; the API never returns it."""
        with self._lock:
            self._find(webhook_id)
            return self._keys[webhook_id]

    def deliverable(self) -> list[Deliverable]:
        """Enabled webhooks with their keys: the input of the webhook sender (a later issue)."""
        with self._lock:
            return [
                Deliverable(copy.deepcopy(hook), self._keys[webhook_id])
                for webhook_id, hook in self._webhooks.items()
                if not hook["disabled"]
            ]

    def _find(self, webhook_id: int) -> dict[str, Any]:
        try:
            return self._webhooks[webhook_id]
        except KeyError:
            raise UnknownWebhook(webhook_id) from None
