"""Registering the Reporting Webhook with the App API key, and the manual steps when that fails.

customerio-api.md: the API never returns the signing key, so the safe order is create the webhook
disabled -> the user pastes the signing key -> enable it with a full-object PUT. A webhook is
matched by its exact endpoint URL, so registering twice creates nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cio_warehouse import catalog
from cio_warehouse.customerio import AppAPIClient, CustomerIOError, ScopeMissingError

WEBHOOK_PATH = "/webhooks/customerio/{source}"
WEBHOOK_NAME = "cio-warehouse ({source})"
UI_PATH = "Data & Integrations > Integrations > Reporting Webhooks"


def webhook_url(public_base_url: str, source: str) -> str:
    """`http(s)://HOST:PORT/webhooks/customerio/<source>` under the public base URL."""
    return public_base_url.rstrip("/") + WEBHOOK_PATH.format(source=source)


def subscribed_events(tables: Sequence[str]) -> list[str]:
    """The subscription names of the selected webhook tables, in catalog order."""
    return [e for t in catalog.WEBHOOK_TABLES if t.name in tables for e in t.events]


def check_public_url(url: str) -> str | None:
    """Why Customer.io could not deliver to `url`, or None when it looks deliverable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    return None


def manual_steps(url: str, events: Sequence[str]) -> list[str]:
    """What to click in Customer.io when the API cannot register the webhook for us."""
    return [
        f"In Customer.io, go to {UI_PATH} and click Add Reporting Webhook.",
        f"Webhook Endpoint: {url}",
        "Events: " + (", ".join(events) if events else "the message events you want to keep"),
        "Send Frequency and Body Content: as you need them (both optional).",
        "Save the webhook, then copy its signing key from the webhook's page and store it with "
        "`cio-warehouse webhook signing-key SOURCE` (or the web app's Signing key field).",
    ]


@dataclass(frozen=True)
class Registration:
    url: str
    events: list[str]
    webhook: dict[str, Any] | None = None  # as Customer.io has it, when registered
    created: bool = False
    failure: str | None = None  # why automatic registration did not work
    steps: list[str] = field(default_factory=list)  # manual steps when it failed

    @property
    def ok(self) -> bool:
        return self.webhook is not None


def register(
    client: AppAPIClient,
    source: str,
    public_base_url: str,
    tables: Sequence[str],
    *,
    full_resolution: bool = False,
    with_content: bool = False,
) -> Registration:
    """Find our webhook by its endpoint URL or create it disabled; never raises for the expected
    failures (no usable URL, missing scope, network): they come back with the manual steps."""
    url = webhook_url(public_base_url, source)
    events = subscribed_events(tables)

    def failed(reason: str) -> Registration:
        return Registration(url, events, failure=reason, steps=manual_steps(url, events))

    if not events:
        return failed("no webhook table is selected, so there is nothing to subscribe to")
    problem = check_public_url(url)
    if problem:
        return failed(problem)
    try:
        for existing in client.list_reporting_webhooks():
            if existing.get("endpoint") == url:
                updated = _with_events(client, existing, events, full_resolution, with_content)
                return Registration(url, events, webhook=updated)
        created = client.create_reporting_webhook(
            WEBHOOK_NAME.format(source=source),
            url,
            events,
            disabled=True,
            full_resolution=full_resolution,
            with_content=with_content,
        )
    except ScopeMissingError as exc:
        return failed(f"the App API key may not manage reporting webhooks ({exc})")
    except CustomerIOError as exc:
        return failed(str(exc))
    return Registration(url, events, webhook=created, created=True)


def _with_events(
    client: AppAPIClient,
    webhook: dict[str, Any],
    events: list[str],
    full_resolution: bool,
    with_content: bool,
) -> dict[str, Any]:
    unchanged = (
        sorted(webhook.get("events") or []) == sorted(events)
        and webhook.get("full_resolution") == full_resolution
        and webhook.get("with_content") == with_content
    )
    if unchanged:
        return webhook
    wanted = {"events": events, "full_resolution": full_resolution, "with_content": with_content}
    return client.update_reporting_webhook(int(webhook["id"]), {**webhook, **wanted})


def set_enabled(client: AppAPIClient, webhook_id: int, enabled: bool) -> dict[str, Any]:
    """Full-object PUT (customerio-api.md: update sends the whole object)."""
    current = client.get_reporting_webhook(webhook_id)
    return client.update_reporting_webhook(webhook_id, {**current, "disabled": not enabled})


def update_events(
    client: AppAPIClient, webhook_id: int, tables: Sequence[str], *, enabled: bool | None = None
) -> dict[str, Any]:
    """After the selected tables change: subscribe to exactly their events, and enable it or not
    as `enabled` says. With no webhook table left it is disabled instead: Customer.io needs at
    least one event, and nothing would keep what it sends."""
    current = client.get_reporting_webhook(webhook_id)
    events = subscribed_events(tables)
    wanted: dict[str, Any] = {"events": events} if events else {"disabled": True}
    if events and enabled is not None:
        wanted["disabled"] = not enabled
    return client.update_reporting_webhook(webhook_id, {**current, **wanted})


def unregister(client: AppAPIClient, webhook_id: int) -> None:
    """Delete the webhook; one that is already gone (404) counts as done."""
    client.delete_reporting_webhook(webhook_id)
