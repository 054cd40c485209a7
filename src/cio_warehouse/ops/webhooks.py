"""A source's reporting webhook: its signing key, Customer.io's view, deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cio_warehouse import webhook_links
from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.ops.sources import known_source
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig, StateStore
from cio_warehouse.webhooks.health import Assessment, DeliveryCounters, assess
from cio_warehouse.webhooks.inbox import InboxLocation
from cio_warehouse.webhooks.registration import missing_events

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
    verdict = assess(health, source=source.name, has_signing_key=source.signing_key is not None,
                     registered=source.settings.webhook_registered)
    return Delivery(DeliveryCounters.of(health.counters), health.last_delivery_at,
                    health.backlog, verdict)


@dataclass(frozen=True)
class RemoteWebhook:
    """The webhook as Customer.io has it (None: none registered), or why it is not known."""

    webhook: dict[str, Any] | None
    error: str | None
    # Events the selected tables want that the webhook lacks (Customer.io refused them).
    missing: list[str] = field(default_factory=list)

    @property
    def missing_notice(self) -> str | None:
        if not self.missing:
            return None
        return (
            f"The webhook is not subscribed to {', '.join(self.missing)}: Customer.io refused "
            f"{'that name' if len(self.missing) == 1 else 'those names'} at registration (or "
            f"{'it was' if len(self.missing) == 1 else 'they were'} removed in its UI), so "
            f"those events do not arrive."
        )


def remote_webhook(store: StateStore, name: str, *, interactive: bool = False) -> RemoteWebhook:
    try:
        webhook = webhook_links.fetch_webhook(store, name, interactive=interactive)
    except CustomerIOError as exc:
        return RemoteWebhook(None, str(exc))
    tables = known_source(store, name).tables
    return RemoteWebhook(webhook, None, missing_events(webhook, tables) if webhook else [])
