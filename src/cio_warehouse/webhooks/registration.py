"""Registering the Reporting Webhook with the App API key, and the manual steps when that fails.

customerio-api.md: the API never returns the signing key, so the safe order is create the webhook
disabled -> the user pastes the signing key -> enable it with a full-object PUT. A webhook is
matched by its exact endpoint URL, so registering twice creates nothing new.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cio_warehouse import catalog
from cio_warehouse.customerio import AppAPIClient, CustomerIOError, ScopeMissingError
from cio_warehouse.customerio.errors import RequestError
from cio_warehouse.webhooks.spec_events import subscription_names

WEBHOOK_PATH = "/webhooks/customerio/{source}"
WEBHOOK_NAME = "cio-warehouse ({source})"
UI_PATH = "Data & Integrations > Integrations > Reporting Webhooks"


def webhook_url(public_base_url: str, source: str) -> str:
    """`http(s)://HOST:PORT/webhooks/customerio/<source>` under the public base URL."""
    return public_base_url.rstrip("/") + WEBHOOK_PATH.format(source=source)


def subscribed_events(tables: Sequence[str]) -> list[str]:
    """What the official spec lists for the object types of the selected webhook tables, in
    catalog order (spec_events.py; docs/customerio-behaviour.md)."""
    return [
        name
        for table in catalog.WEBHOOK_TABLES
        if table.name in tables
        for object_type in table.object_types
        for name in subscription_names(object_type)
    ]


def refused_notice(refused: Sequence[str]) -> str | None:
    """One sentence on the event names Customer.io would not subscribe to, or None."""
    if not refused:
        return None
    return (
        f"Customer.io refused {len(refused)} event name{'' if len(refused) == 1 else 's'} "
        f"({', '.join(refused)}), so the webhook is registered without "
        f"{'it' if len(refused) == 1 else 'them'}: those events will not arrive."
    )


def named_in_400(error: CustomerIOError, events: Sequence[str]) -> list[str]:
    """The events a 400 names: Customer.io refuses a create or update naming the event names it
    does not accept (docs/customerio-behaviour.md); the body is otherwise opaque."""
    if not isinstance(error, RequestError) or error.status != 400:
        return []
    return [e for e in events if re.search(rf"(?<![a-z_]){re.escape(e)}(?![a-z_])", error.message)]


def without_refused(
    call: Callable[[list[str]], dict[str, Any]], events: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """`call(events)`, and again without the events each 400 names, as long as some remain.

    Returns the webhook and the refused names. A 400 that names none of our events, or all of
    them, is raised: dropping would not help.
    """
    wanted, refused = list(events), list[str]()
    while True:
        try:
            return call(wanted), refused
        except CustomerIOError as exc:
            named = named_in_400(exc, wanted)
            if not named or len(named) == len(wanted):
                raise
            refused += named
            wanted = [e for e in wanted if e not in named]


def check_public_url(url: str) -> str | None:
    """Why Customer.io could not deliver to `url`, or None when it looks deliverable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    return None


def unreachable_reason(url: str) -> str | None:
    """Why Customer.io, on the internet, cannot deliver to `url`, as far as its host shows it
    (a loopback, private or link-local address, localhost, a name without a domain); None when
    it may be reachable. Names are not resolved: Customer.io resolves them, not this host."""
    host = urlsplit(url).hostname
    if not host:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine (a loopback name)"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if "." in host else f"{host} is a name without a domain"
    if address.is_loopback:
        return f"{host} is this machine (a loopback address)"
    if address.is_private:
        return f"{host} is a private network address"
    if not address.is_global:
        return f"{host} is not a public internet address"
    return None


def manual_steps(url: str, events: Sequence[str], source: str) -> list[str]:
    """What to click in Customer.io when the API cannot register the webhook for us."""
    return [
        f"In Customer.io, go to {UI_PATH} and click Add Reporting Webhook.",
        f"Webhook Endpoint: {url}",
        "Events: " + (", ".join(events) if events else "the message events you want to keep"),
        "Send Frequency and Body Content: as you need them (both optional).",
        "Save the webhook, then copy its signing key from the webhook's page and store it with "
        f"`cio-warehouse webhook signing-key {source}` (or the web app's Signing key field).",
    ]


@dataclass(frozen=True)
class Registration:
    url: str
    events: list[str]
    webhook: dict[str, Any] | None = None  # as Customer.io has it, when registered
    created: bool = False
    failure: str | None = None  # why automatic registration did not work
    steps: list[str] = field(default_factory=list)  # manual steps when it failed
    refused: list[str] = field(default_factory=list)  # names Customer.io would not subscribe to

    @property
    def ok(self) -> bool:
        return self.webhook is not None

    @property
    def notice(self) -> str | None:
        """What the user should know about a registration that worked, e.g. refused events."""
        return refused_notice(self.refused)

    @property
    def unreachable(self) -> str | None:
        """A sentence when Customer.io cannot reach the URL (it registers all the same)."""
        reason = unreachable_reason(self.url)
        if reason is None:
            return None
        return (
            f"Customer.io cannot reach {self.url}: {reason}. Deliveries will not arrive until the "
            "public base URL is an address the internet reaches (this host's public name, a "
            "reverse proxy or a tunnel)."
        )


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
        return Registration(url, events, failure=reason, steps=manual_steps(url, events, source))

    if not events:
        return failed("no webhook table is selected, so there is nothing to subscribe to")
    problem = check_public_url(url)
    if problem:
        return failed(problem)
    def create(names: list[str]) -> dict[str, Any]:
        return client.create_reporting_webhook(
            WEBHOOK_NAME.format(source=source),
            url,
            names,
            disabled=True,
            full_resolution=full_resolution,
            with_content=with_content,
        )

    try:
        existing = next(
            (hook for hook in client.list_reporting_webhooks() if hook.get("endpoint") == url),
            None,
        )
        if existing is not None:

            def update(names: list[str]) -> dict[str, Any]:
                assert existing is not None
                return _with_events(client, existing, names, full_resolution, with_content)

            updated, refused = without_refused(update, events)
            return _registered(url, events, updated, refused, created=False)
        created, refused = without_refused(create, events)
    except ScopeMissingError as exc:
        return failed(f"the App API key may not manage reporting webhooks ({exc})")
    except CustomerIOError as exc:
        return failed(str(exc))
    return _registered(url, events, created, refused, created=True)


def _registered(
    url: str, events: list[str], webhook: dict[str, Any], refused: list[str], *, created: bool
) -> Registration:
    kept = [e for e in events if e not in refused]
    return Registration(url, kept, webhook=webhook, created=created, refused=refused)


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
    if not events:
        return client.update_reporting_webhook(webhook_id, {**current, "disabled": True})
    flags: dict[str, Any] = {} if enabled is None else {"disabled": not enabled}

    def put(names: list[str]) -> dict[str, Any]:
        return client.update_reporting_webhook(
            webhook_id, {**current, **flags, "events": names}
        )

    updated, _refused = without_refused(put, events)
    return updated


def missing_events(webhook: dict[str, Any], tables: Sequence[str]) -> list[str]:
    """Events the selected tables want that the webhook, as Customer.io has it, lacks: the names
    Customer.io refused at registration (or ones removed in its UI)."""
    have = set(webhook.get("events") or [])
    return [e for e in subscribed_events(tables) if e not in have]


def unregister(client: AppAPIClient, webhook_id: int) -> None:
    """Delete the webhook; one that is already gone (404) counts as done."""
    client.delete_reporting_webhook(webhook_id)
