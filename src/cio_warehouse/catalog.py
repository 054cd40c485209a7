"""The 18 tables as data: the one source of truth for the CLI, web app, sync and docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SyncMethod(StrEnum):
    FULL_REFRESH = "full_refresh"
    # Windows of creation time, the last ones read again, merged on the key (sync/history.py).
    INCREMENTAL = "incremental"
    WEBHOOK = "webhook"


class Paging(StrEnum):
    NONE = "none"
    # `limit` in, a top-level `next` out, sent back as `start`.
    CURSOR = "cursor"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # a dlt data type: text, bigint, bool, timestamp, json
    description: str
    path: tuple[str, ...] = ()


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
    # The `limit` a cursor table asks for when its endpoint documents a maximum (else the
    # client's page_limit).
    page_size: int | None = None
    # The query parameters of each read of the list; a table read more than once keeps each
    # primary key once (docs/customerio-behaviour.md: which read lists which sender differs live).
    reads: tuple[tuple[tuple[str, str], ...], ...] = ((),)
    # The primary key's type as Customer.io documents it. Only a table whose first sync finds no
    # rows uses it (to exist, empty, with its key); otherwise the data decides, as for any column.
    primary_key_type: str = "bigint"
    # Unix-second integers that land as timestamp columns; 0 means "never" and lands as NULL.
    timestamp_fields: tuple[str, ...] = ()
    # Nested values (lists, objects) kept as JSON columns, queried with JSON functions.
    json_fields: tuple[str, ...] = ()
    # Webhook tables: the object_type values routed here and the subscribable events.
    object_types: tuple[str, ...] = ()
    events: tuple[str, ...] = field(default=())
    # A new source selects it unless told otherwise.
    selected_by_default: bool = True

    @property
    def synced(self) -> bool:
        """Read from the App API on a schedule (full refresh or incremental), not a webhook."""
        return self.sync_method is not SyncMethod.WEBHOOK


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
        # scheduled_start/stop: unix seconds too, live (docs/customerio-behaviour.md).
        timestamp_fields=(
            "created", "updated", "first_started", "scheduled_start", "scheduled_stop"
        ),
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
        # scheduled_at: unix seconds too, live (docs/customerio-behaviour.md).
        timestamp_fields=("created", "updated", "sent_at", "scheduled_at"),
        json_fields=("content_ids", "tags", "recipient_segment_ids"),
    ),
    Table(
        "object_types",
        "Custom object types (companies, accounts, ...) defined in the workspace.",
        _API, "id", "/v1/object_types", "types",
        primary_key_type="text",  # "1" in Customer.io's examples
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
        # Without the flag, then `hidden=true`: the docs say the flag "includes hidden senders",
        # live it lists only them (docs/customerio-behaviour.md); both reads cover either.
        reads=((), (("hidden", "true"),)),
    ),
    Table(
        "snippets",
        "Reusable content snippets, keyed by name.",
        _API, "name", "/v1/snippets", "snippets",
        timestamp_fields=("updated_at",),
        primary_key_type="text",
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

# The metrics a delivery goes through, as the webhook names them; history's `metrics` keys too.
MESSAGE_METRICS: tuple[str, ...] = tuple(dict.fromkeys(
    event.removeprefix(f"{table.object_types[0]}_")
    for table in TABLES
    if table.sync_method is _HOOK and table.object_types != ("customer",)
    for event in table.events
))

# /v1/messages rows as customerio-api.md lists them, typed so that every column exists from the
# first load (a column only ever NULL would otherwise appear late), and one typed `<metric>_at`
# per known metric; a metric Customer.io adds later stays in `metrics`.
MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("id", "text", "The delivery id: the webhook events' delivery_id."),
    Column("deduplicate_id", "text", "id:created, as Customer.io sends it."),
    Column("customer_id", "text", "The person's id (may be blank)."),
    Column("customer_identifiers", "json", "The person's id, email and cio_id."),
    Column("recipient", "text", "The address, number or device the message went to."),
    Column("subject", "text", "The email subject."),
    Column("type", "text", "The channel: email, push, twilio (SMS), whatsapp, slack, ..."),
    Column("campaign_id", "bigint", "The campaign that sent it."),
    Column("action_id", "bigint", "The workflow action that sent it."),
    Column("parent_action_id", "bigint", "The parent action (a split, ...) of the action."),
    Column("newsletter_id", "bigint", "The newsletter that sent it."),
    Column("broadcast_id", "bigint", "The API-triggered broadcast that sent it."),
    Column("content_id", "bigint", "The newsletter variant."),
    Column("message_template_id", "bigint", "The message template."),
    Column("created", "timestamp", "When the delivery was created."),
    Column("failure_message", "text", "Why it was not sent or delivered."),
    Column("forgotten", "bool", "Its person was deleted and its content forgotten."),
    Column("metrics", "json", "Every metric it reached -> unix seconds, as sent."),
    Column("extra", "json", "Fields beyond these, and values that do not fit their column."),
    *(Column(f"{metric}_at", "timestamp", f"When it was first {metric}.")
      for metric in MESSAGE_METRICS),
)

MESSAGES = Table(
    "messages",
    "Message history: every delivery with its metrics, read back from the first sync on "
    "(incremental; not selected unless chosen).",
    SyncMethod.INCREMENTAL, "id", "/v1/messages", "messages", Paging.CURSOR,
    page_size=1000,  # customerio-api.md: "limit (max 1000)"
    primary_key_type="text",
    timestamp_fields=tuple(c.name for c in MESSAGE_COLUMNS if c.data_type == "timestamp"),
    json_fields=tuple(c.name for c in MESSAGE_COLUMNS if c.data_type == "json"),
    selected_by_default=False,
)
TABLES = (*TABLES, MESSAGES)  # last: it is read after the lists, and chosen less often

BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}
# The ten full-refresh tables.
API_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.sync_method is _API)
# Every table read from the App API: the ten and message history.
SYNCED_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.synced)
WEBHOOK_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.sync_method is _HOOK)
DEFAULT_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.selected_by_default)


def get(name: str) -> Table:
    """The catalog entry for `name`, or a KeyError that lists the valid names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown table {name!r}; known tables: {', '.join(BY_NAME)}"
        ) from None


# -- webhook event rows ------------------------------------------------------------------------
# Every event table (the 7 above, whatsapp_events and unrouted_events) has this one layout, so that
# an event routed by an exception (a preferences change that an email triggered) or a type no
# table claims yet fits anywhere. Types follow Customer.io's reporting-webhooks OpenAPI document
# (components.schemas.*); `path` says where the value sits in the delivery (empty: the inbox
# supplies it). A value of another type than declared is kept beside its column, in a dlt variant
# column `<name>__v_text`; the whole `data` object is a JSON column as well, so nothing is lost.


def _data(name: str, data_type: str, description: str, *path: str) -> Column:
    return Column(name, data_type, description, ("data", *(path or (name,))))


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "text", "Customer.io's unique event id (ULID-like): the dedupe key."),
    Column("object_type", "text", "The channel (email, sms, ...) or customer.", ("object_type",)),
    Column("metric", "text", "What happened (sent, opened, ...): free text.", ("metric",)),
    Column("timestamp", "timestamp", "When it happened (sent as unix seconds).", ("timestamp",)),
    Column("received_at", "timestamp", "When the receiver stored the delivery."),
    _data("delivery_id", "text", "The message instance sent to a person."),
    # campaign_id, broadcast_id, newsletter_id, action_id, parent_action_id, content_id,
    # trigger_id and link_id are `type: integer` in the spec; journey_id is a string (a ULID).
    _data("campaign_id", "bigint", "The campaign (journey) that sent the message."),
    _data("broadcast_id", "bigint", "The API-triggered broadcast that sent the message."),
    _data("newsletter_id", "bigint", "The newsletter that sent the message."),
    # Untyped in the spec; the App API's transactional ids are integers.
    _data("transactional_message_id", "bigint", "The transactional message template."),
    _data("action_id", "bigint", "The workflow action that sent the message."),
    _data("parent_action_id", "bigint", "The parent action (a split, ...) of the action."),
    _data("content_id", "bigint", "The newsletter variant."),
    _data("journey_id", "text", "The path a person took through the workflow."),
    _data("trigger_id", "bigint", "The Trigger Broadcast API call that sent the message."),
    _data("trigger_event_id", "text", "The event that triggered the campaign or action."),
    _data("customer_id", "text", "The person's id (deprecated by Customer.io; may be blank)."),
    _data("email_address", "text", "The person's email address (customer events)."),
    _data("identifier_id", "text", "identifiers.id: the person's id.", "identifiers", "id"),
    _data("identifier_email", "text", "identifiers.email.", "identifiers", "email"),
    _data("identifier_cio_id", "text", "identifiers.cio_id: the canonical person id.",
          "identifiers", "cio_id"),
    _data("recipient", "text", "The address, number or device id the message went to."),
    _data("subject", "text", "The email subject."),
    _data("href", "text", "The link clicked."),
    _data("link_id", "bigint", "The tracked link clicked."),
    _data("failure_message", "text", "Why the message was not sent or delivered."),
    _data("machine", "bool", "The click came from a machine (email clicked)."),
    _data("proxied", "bool", "The open came through a privacy proxy (email opened)."),
    _data("prefetched", "bool", "The open was a prefetch (email opened)."),
    _data("synthetic", "bool", "The open was inferred from a click (email opened)."),
    _data("tracked_response", "text", "The action name tapped (in-app clicked)."),
    _data("inbound_event_id", "text", "The inbound reply (sms/whatsapp replied)."),
    # `to` is a reserved word in SQL: the column is named for what it holds.
    _data("replied_to", "text", "The number the person replied to (replied).", "to"),
    Column("data", "json", "The whole `data` object as delivered.", ("data",)),
    Column("extra", "json", "Top-level fields beyond these, if Customer.io adds any."),
)

WHATSAPP_EVENTS = Table(
    "whatsapp_events",
    "WhatsApp activity: sent, delivered, opened, clicked, replied, ...",
    _HOOK, "event_id", object_types=("whatsapp",),
    events=_events(
        "whatsapp",
        "drafted attempted sent delivered opened clicked converted bounced dropped failed"
        " undeliverable replied",
    ),
)
UNROUTED_EVENTS = Table(
    "unrouted_events",
    "Events of an object_type that no table claims yet, kept rather than dropped.",
    _HOOK, "event_id",
)
# Every table that event rows land in (EVENT_COLUMNS each), the 7 selectable ones first.
EVENT_TABLES: tuple[Table, ...] = (*WEBHOOK_TABLES, WHATSAPP_EVENTS, UNROUTED_EVENTS)

DEAD_LETTERS = Table(
    "webhook_dead_letters",
    "Signed deliveries that could not become an event row: the reason and the raw body.",
    _HOOK, "dead_letter_id",
    timestamp_fields=("received_at",),
)
DEAD_LETTER_COLUMNS: tuple[Column, ...] = (
    Column("dead_letter_id", "text", "Stable id of the dead letter: the dedupe key."),
    Column("received_at", "timestamp", "When the receiver stored the delivery."),
    Column("reason", "text", "Why it is not an event row."),
    Column("body", "text", "The raw body as text (bytes that are not UTF-8 escaped)."),
    Column("event_id", "text", "The event id, when the body had one."),
    Column("origin", "text", "receiver (unusable body) or loader (the warehouse refused it)."),
)
