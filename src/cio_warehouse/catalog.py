"""The 17 tables as data: the one source of truth for the CLI, web app, sync and docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SyncMethod(StrEnum):
    FULL_REFRESH = "full_refresh"
    WEBHOOK = "webhook"


class Paging(StrEnum):
    NONE = "none"
    # `limit` in, a top-level `next` out, sent back as `start`.
    CURSOR = "cursor"


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    sync_method: SyncMethod
    primary_key: str
    # App API tables: where the list lives and how to page through it.
    path: str | None = None
    list_key: str | None = None
    paging: Paging = Paging.NONE
    extra_params: tuple[tuple[str, str], ...] = ()
    # Unix-second integers that land as timestamp columns.
    timestamp_fields: tuple[str, ...] = ()
    # Nested values (lists, objects) kept as JSON columns, queried with JSON functions.
    json_fields: tuple[str, ...] = ()
    # Webhook tables: the object_type values routed here and the subscribable events.
    object_types: tuple[str, ...] = ()
    events: tuple[str, ...] = field(default=())


def _events(object_type: str, metrics: str) -> tuple[str, ...]:
    return tuple(f"{object_type}_{metric}" for metric in metrics.split())


_API = SyncMethod.FULL_REFRESH
_HOOK = SyncMethod.WEBHOOK

TABLES: tuple[Table, ...] = (
    Table(
        "broadcasts",
        "API-triggered broadcasts: name, state, actions and tags.",
        _API, "id", "/v1/broadcasts", "broadcasts",
        timestamp_fields=("created", "updated", "first_started"),
        json_fields=("actions", "tags"),
    ),
    Table(
        "campaigns",
        "Campaigns (journeys): name, state, trigger and filter segments, actions, tags.",
        _API, "id", "/v1/campaigns", "campaigns",
        timestamp_fields=("created", "updated", "first_started"),
        json_fields=("actions", "tags", "trigger_segment_ids", "filter_segment_ids"),
    ),
    Table(
        "collections",
        "Data collections used in messages: name, size, rows and schema.",
        _API, "id", "/v1/collections", "collections",
        timestamp_fields=("created_at", "updated_at"),
        json_fields=("schema",),
    ),
    Table(
        "newsletters",
        "Newsletters: name, type, contents, recipient segments, send time, tags.",
        _API, "id", "/v1/newsletters", "newsletters", Paging.CURSOR,
        timestamp_fields=("created", "updated", "sent_at"),
        json_fields=("content_ids", "tags", "recipient_segment_ids"),
    ),
    Table(
        "object_types",
        "Custom object types (companies, accounts, ...) defined in the workspace.",
        _API, "id", "/v1/object_types", "types",
    ),
    Table(
        "segments",
        "Data-driven and manual segments: name, state, type, tags.",
        _API, "id", "/v1/segments", "segments",
        timestamp_fields=("created_at", "updated_at"),
        json_fields=("tags",),
    ),
    Table(
        "sender_identities",
        "Sender identities (from addresses), hidden ones included.",
        _API, "id", "/v1/sender_identities", "sender_identities", Paging.CURSOR,
        extra_params=(("hidden", "true"),),
    ),
    Table(
        "snippets",
        "Reusable content snippets, keyed by name.",
        _API, "name", "/v1/snippets", "snippets",
        timestamp_fields=("updated_at",),
    ),
    Table(
        "subscription_topics",
        "Subscription center topics and whether people are subscribed by default.",
        _API, "id", "/v1/subscription_topics", "topics",
    ),
    Table(
        "transactional",
        "Transactional message templates and their tracking settings.",
        _API, "id", "/v1/transactional", "messages",
        timestamp_fields=("created_at", "updated_at"),
    ),
    Table(
        "customer_events",
        "Subscription changes: subscribed, unsubscribed, preferences changed.",
        _HOOK, "event_id", object_types=("customer",),
        events=_events(
            "customer", "subscribed unsubscribed subscription_preferences_changed"
        ),
    ),
    Table(
        "email_events",
        "Email activity: sent, delivered, opened, clicked, bounced, spammed, ...",
        _HOOK, "event_id", object_types=("email",),
        events=_events(
            "email",
            "drafted attempted sent delivered opened clicked converted bounced dropped"
            " deferred spammed failed unsubscribed undeliverable",
        ),
    ),
    Table(
        "push_events",
        "Push notification activity: sent, delivered, opened, clicked, bounced, ...",
        _HOOK, "event_id", object_types=("push",),
        events=_events(
            "push",
            "drafted attempted sent delivered opened clicked converted bounced dropped failed"
            " undeliverable",
        ),
    ),
    Table(
        "sms_events",
        "SMS activity: sent, delivered, clicked, bounced, replied, ...",
        _HOOK, "event_id", object_types=("sms",),
        events=_events(
            "sms",
            "drafted attempted sent delivered clicked converted bounced dropped failed"
            " undeliverable replied",
        ),
    ),
    Table(
        "in_app_events",
        "In-app message activity: sent, opened, clicked, converted, ...",
        _HOOK, "event_id", object_types=("in_app",),
        events=_events(
            "in_app", "drafted attempted sent opened clicked converted failed undeliverable"
        ),
    ),
    Table(
        "slack_events",
        "Slack message activity: sent, clicked, converted, failed.",
        _HOOK, "event_id", object_types=("slack",),
        events=_events("slack", "drafted attempted sent clicked converted failed"),
    ),
    Table(
        "webhook_events",
        "Outgoing webhook action activity: sent, clicked, failed, ...",
        _HOOK, "event_id", object_types=("webhook",),
        events=_events(
            "webhook", "drafted attempted sent clicked converted failed undeliverable"
        ),
    ),
)

BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}
API_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.sync_method is _API)
WEBHOOK_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.sync_method is _HOOK)


def get(name: str) -> Table:
    """The catalog entry for `name`, or a KeyError that lists the valid names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown table {name!r}; known tables: {', '.join(BY_NAME)}"
        ) from None
