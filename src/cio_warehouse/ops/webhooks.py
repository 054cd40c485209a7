"""A source's reporting webhook: its signing key, Customer.io's view, deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cio_warehouse import webhook_links
from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.ops.sources import known_source
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.webhooks.health import Assessment, DeliveryCounters, assess
from cio_warehouse.webhooks.inbox import InboxLocation

# webhook_links.py does the work with Customer.io; this is what its users see of it.


@dataclass(frozen=True)
class KeySaved:
    webhook: dict[str, Any] | None
    rotated: bool
    enabled: bool


def store_signing_key(store: StateStore, name: str, key: str, inbox: InboxLocation) -> KeySaved:
    known_source(store, name)
    saved = webhook_links.save_signing_key(store, name, Secret(key), inbox)
    return KeySaved(
        webhook=saved.webhook,
        rotated=saved.rotated,
        enabled=saved.webhook is not None and not saved.webhook.get("disabled"),
    )


@dataclass(frozen=True)
class Delivery:
    """What reached the inbox for a source, and what it means."""

    counters: DeliveryCounters
    last_delivery_at: float | None
    backlog: int
    assessment: Assessment


def delivery(inbox: InboxLocation, source: SourceConfig) -> Delivery:
    """The source's delivery health from the inbox, and what it means."""
    opened = inbox.open()
    try:
        health = opened.health(source.name)
    finally:
        opened.close()
    verdict = assess(health, has_signing_key=source.signing_key is not None,
                     registered=source.settings.webhook_registered)
    return Delivery(DeliveryCounters.of(health.counters), health.last_delivery_at,
                    health.backlog, verdict)


@dataclass(frozen=True)
class RemoteWebhook:
    """The webhook as Customer.io has it (None: none registered), or why it is not known."""

    webhook: dict[str, Any] | None
    error: str | None


def remote_webhook(store: StateStore, name: str, *, interactive: bool = False) -> RemoteWebhook:
    try:
        return RemoteWebhook(webhook_links.fetch_webhook(store, name, interactive=interactive),
                             None)
    except CustomerIOError as exc:
        return RemoteWebhook(None, str(exc))
