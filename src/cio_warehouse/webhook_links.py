"""A source's Reporting Webhook, end to end: register, store the signing key and enable, keep
the events in step with the selected tables, delete. Shared by the CLI and the web app."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cio_warehouse.customerio import CustomerIOError
from cio_warehouse.secret import Secret
from cio_warehouse.sources import client_for
from cio_warehouse.state import SourceConfig, StateError, StateStore
from cio_warehouse.webhooks import registration
from cio_warehouse.webhooks.inbox import InboxLocation, inbox_location, open_inbox
from cio_warehouse.webhooks.published_keys import KeyPublisher
from cio_warehouse.webhooks.registration import Registration


def register(
    store: StateStore,
    name: str,
    public_base_url: str,
    *,
    full_resolution: bool = False,
    with_content: bool = False,
) -> Registration:
    """Register (or find) the webhook and remember its id and URL on the source."""
    source = store.get_source(name)
    with client_for(source, interactive=True) as client:
        outcome = registration.register(
            client,
            name,
            public_base_url,
            source.tables,
            full_resolution=full_resolution,
            with_content=with_content,
        )
    settings = replace(source.settings, public_base_url=public_base_url, webhook_url=outcome.url)
    if outcome.webhook is not None:
        settings = replace(settings, webhook_id=int(outcome.webhook["id"]))
    store.update_source(replace(source, settings=settings))
    return outcome


@dataclass(frozen=True)
class KeySaved:
    webhook: dict[str, Any] | None  # the enabled webhook, when one is registered
    rotated: bool  # the previous key is still accepted during the rotation


def save_signing_key(
    store: StateStore, name: str, key: Secret, inbox: InboxLocation | None = None
) -> KeySaved:
    """Store the key (the old one stays valid as the previous key), then enable the webhook.

    With a shared inbox (`inbox`, else $CIO_WAREHOUSE_INBOX) the key is published to it before
    Customer.io is told to send: remote receivers must not drop a first delivery as unsigned.
    """
    source = store.get_source(name)
    rotated = source.signing_key is not None and source.signing_key != key
    store.update_source(
        replace(
            source,
            signing_key=key,
            previous_signing_key=source.signing_key if rotated else source.previous_signing_key,
        )
    )
    inbox = inbox if inbox is not None else inbox_location(store.data_dir)
    if inbox.url is not None:
        publisher = KeyPublisher(store, inbox.url)
        try:
            publisher.publish()
        finally:
            publisher.stop()
    webhook_id = source.settings.webhook_id
    if webhook_id is None:
        return KeySaved(None, rotated)
    with client_for(source, interactive=True) as client:
        return KeySaved(registration.set_enabled(client, webhook_id, True), rotated)


def fetch_webhook(
    store: StateStore, name: str, *, interactive: bool = False
) -> dict[str, Any] | None:
    """The webhook as Customer.io has it now, or None when none is registered (`interactive`:
    a short retry budget, for a status page that someone is waiting for)."""
    source = store.get_source(name)
    webhook_id = source.settings.webhook_id
    if webhook_id is None:
        return None
    with client_for(source, interactive=interactive) as client:
        return client.get_reporting_webhook(webhook_id)


def update_tables(store: StateStore, name: str, tables: tuple[str, ...]) -> None:
    """Save the selected tables and subscribe the webhook to exactly their events (enabled when
    a signing key is stored; disabled when no webhook table is left)."""
    source = replace(store.get_source(name), tables=tables)
    store.update_source(source)
    webhook_id = source.settings.webhook_id
    if webhook_id is not None:
        with client_for(source, interactive=True) as client:
            registration.update_events(
                client, webhook_id, tables, enabled=source.signing_key is not None
            )


def remove_source(store: StateStore, name: str) -> str | None:
    """Delete the webhook (404 counts as done), then the source. Returns a warning, if any."""
    source = store.get_source(name)
    webhook_id = source.settings.webhook_id
    warning = None
    if webhook_id is not None:
        try:
            with client_for(source, interactive=True) as client:
                registration.unregister(client, webhook_id)
        except CustomerIOError as exc:
            warning = (
                f"The reporting webhook {webhook_id} could not be deleted ({exc}); delete it in "
                f"Customer.io under {registration.UI_PATH}."
            )
    forget_source(store, name)
    return warning


def forget_source(store: StateStore, name: str) -> None:
    """Remove the source here only: its state, keys and the deliveries waiting in the inbox."""
    store.remove_source(name)
    inbox = open_inbox(store.data_dir)
    try:
        inbox.forget_source(name)
    finally:
        inbox.close()


def require_registered(source: SourceConfig) -> int:
    webhook_id = source.settings.webhook_id
    if webhook_id is None:
        raise StateError(
            f"Source {source.name!r} has no reporting webhook yet: run "
            f"`cio-warehouse webhook register {source.name} --url PUBLIC_URL` first."
        )
    return webhook_id
