"""Row builders for the ten tables: one function per table, a row from its index alone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cio_warehouse.sandbox.rng import RowRandom, mix64, stable_key

Row = dict[str, Any]

# Timestamps are unix-second integers (customerio-api.md); keep them in 2019-2024 so they are
# plausible and never in the future, whatever the seed.
_EPOCH = 1_546_300_800
_SPAN = 157_000_000
_DAY = 86_400


class GenContext:
    """What a row builder may depend on: the seed and the table sizes (for cross-references)."""

    __slots__ = ("seed", "counts", "_salts")

    def __init__(self, seed: int, counts: Mapping[str, int]) -> None:
        self.seed = seed
        self.counts = counts
        self._salts: dict[str, int] = {}

    def key(self, table: str, index: int) -> int:
        salt = self._salts.get(table)
        if salt is None:
            salt = self._salts[table] = stable_key("cio-sandbox", self.seed, table)
        return mix64(salt ^ index)

    def rng(self, table: str, index: int) -> RowRandom:
        return RowRandom(self.key(table, index))

    def special_index(self, table: str, quirk: str) -> int:
        """The one row of `table` with a one-off quirk (e.g. the `"tags": "nil"` broadcast)."""
        count = self.counts[table]
        return stable_key("cio-sandbox-quirk", self.seed, table, quirk) % count if count else -1


_ADJECTIVES = ("Weekly", "Monthly", "Spring", "Holiday", "Welcome", "Winback", "Product", "Trial",
               "Onboarding", "Renewal", "Flash", "Annual", "VIP", "Beta", "Regional", "Loyalty")
_NOUNS = ("Update", "Digest", "Launch", "Reminder", "Series", "Offer", "Survey", "Announcement",
          "Recap", "Nudge", "Invite", "Roundup", "Alert", "Newsletter", "Follow-up", "Check-in")
_TAGS = ("Product Updates", "new", "welcome", "promo", "retention", "q3", "beta", "vip", "sales",
         "lifecycle", "transactional", "experiment", "eu", "us")
_FIRST = ("Cher", "Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis",
          "Frances", "Edsger", "Radia", "Tim", "Katherine", "Donald", "Hedy")
_LAST = ("Ami", "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov",
         "Ritchie", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Johnson", "Knuth", "Lamarr")
_DOMAINS = ("example.com", "example.org", "mail.example.net", "news.example.com")
_OBJECT_TYPES = (("Companies", "Company", "building"), ("Accounts", "Account", "wallet"),
                 ("Concerts", "Concert", "calendar"), ("Courses", "Course", "book"),
                 ("Projects", "Project", "folder"), ("Stores", "Store", "shop"),
                 ("Teams", "Team", "users"), ("Vehicles", "Vehicle", "car"))
_SNIPPETS = ("address", "footer", "signature", "legal", "support_link", "social_links",
             "unsubscribe_note", "logo", "header", "promo_banner")
_COLUMNS = ("eventDate", "eventName", "presents", "city", "price", "sku", "title", "url",
            "starts_at", "venue", "category", "stock")
_EVENTS = ("signed_up", "purchased", "trial_started", "cart_abandoned", "plan_changed")
_SEGMENT_STATES = ("finished", "finished", "finished", "events", "building")
# Customer.io adds fields without notice (customerio-api.md): a few rows carry fields that no
# published example shows, so a loader that rejects unknown fields fails against the sandbox.
_UNKNOWN_FIELDS: tuple[tuple[str, Callable[[RowRandom], Any]], ...] = (
    ("created_by", lambda r: f"{r.pick(_FIRST)} {r.pick(_LAST)}"),
    ("folder_id", lambda r: r.between(1, 40)),
    ("audience_estimate", lambda r: r.between(0, 250_000)),
    ("archived", lambda r: r.chance(10)),
    ("labels", lambda r: {"team": r.pick(("growth", "lifecycle", "ops"))}),
)


def _title(r: RowRandom, index: int) -> str:
    return f"{r.pick(_ADJECTIVES)} {r.pick(_NOUNS)} {index + 1}"


def _created(r: RowRandom) -> int:
    return _EPOCH + r.below(_SPAN)


def _tags(r: RowRandom) -> list[str]:
    return r.sample(_TAGS, r.below(3))


def _ids(r: RowRandom, count: int, most: int) -> list[int]:
    """Up to `most` distinct ids in 1..count (ids of tables numbered from 1)."""
    wanted = r.below(most + 1)
    if count == 0 or wanted == 0:
        return []
    if wanted == 1:
        return [r.between(1, count)]
    return sorted({r.between(1, count) for _ in range(wanted)})


def _maybe_unknown_field(row: Row, r: RowRandom, percent: int) -> None:
    if r.chance(percent):
        name, value = r.pick(_UNKNOWN_FIELDS)
        row.setdefault(name, value(r))


def _actions(r: RowRandom) -> list[dict[str, Any]]:
    first = r.between(1, 5_000)
    return [{"id": first + n, "type": r.pick(("email", "email", "sms", "push", "webhook",
                                                "in_app", "delay"))}
            for n in range(r.between(1, 4))]


def broadcast(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("broadcasts", i)
    created = _created(r)
    updated = created + r.below(90 * _DAY)
    row: Row = {
        "id": i + 1, "deduplicate_id": f"{i + 1}:{updated}", "created": created,
        "type": "triggered_broadcast", "updated": updated, "name": _title(r, i),
        "active": True, "state": "running", "actions": _actions(r),
        "tags": _tags(r), "first_started": created + r.below(7 * _DAY),
    }
    if r.chance(25):
        # A draft never started: Customer.io's "never" in a timestamp field is 0.
        row["active"], row["state"], row["first_started"] = False, "draft", 0
    _maybe_unknown_field(row, r, 30)
    if i == ctx.special_index("broadcasts", "nil-tags"):
        # The published example's oddities (cio-examples/README.md): "tags" is the string "nil"
        # and one action is split across two items, one with only an id and one with only a type.
        row["tags"] = "nil"
        row["actions"] = [*row["actions"], {"id": r.between(5_001, 9_000)}, {"type": "webhook"}]
        row["created_by"] = "ExamplePerson"
    return row


def campaign(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("campaigns", i)
    created = _created(r)
    updated = created + r.below(120 * _DAY)
    segments = ctx.counts["segments"]
    row: Row = {
        "id": i + 1, "deduplicate_id": f"{i + 1}:{updated}", "name": _title(r, i),
        "description": f"Sends the {r.pick(_NOUNS).lower()} to {r.pick(_TAGS)} customers.",
        "created": created, "updated": updated, "active": True, "state": "running",
        "actions": _actions(r), "first_started": created + r.below(7 * _DAY), "tags": _tags(r),
        "trigger_segment_ids": [], "filter_segment_ids": _ids(r, segments, 2),
    }
    if r.chance(20):
        row["active"], row["state"] = False, r.pick(("draft", "stopped"))
    # "more per trigger type" (customerio-api.md): event- and date-triggered campaigns carry
    # fields that segment-triggered ones lack.
    trigger = r.pick(("segment", "segment", "event", "date"))
    if trigger == "segment":
        row["trigger_segment_ids"] = _ids(r, segments, 1) or ([1] if segments else [])
    elif trigger == "event":
        row["type"] = "event"
        row["event_name"] = r.pick(_EVENTS)
    else:
        row["type"] = "date"
        row["date_attribute"] = r.pick(("birthday", "renewal_date", "trial_ends_at"))
        row["timezone"] = r.pick(("UTC", "America/New_York", "Europe/Paris"))
        row["use_customer_timezone"] = r.chance(50)
        row["start_hour"] = r.below(24)
        row["start_minutes"] = r.pick((0, 15, 30, 45))
        row["frequency"] = r.pick(("once", "yearly", "monthly"))
    _maybe_unknown_field(row, r, 10)
    # Unix seconds, 0 when unset (customerio-api.md, "Where the live API differs").
    start = created + r.below(30 * _DAY) if r.chance(30) else 0
    row["scheduled_start"] = start
    row["scheduled_stop"] = start + r.between(1, 90) * _DAY if start and r.chance(50) else 0
    return row


def collection(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("collections", i)
    created = _created(r)
    rows = r.between(1, 5_000)
    return {
        "bytes": rows * r.between(40, 400), "created_at": created,
        "updated_at": created + r.below(60 * _DAY), "id": i + 1,
        "name": f"{r.pick(_ADJECTIVES).lower()} {r.pick(_NOUNS).lower()} data {i + 1}",
        "rows": rows, "schema": r.sample(_COLUMNS, r.between(1, 5)) or ["id"],
    }


def newsletter(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("newsletters", i)
    # Ascending, unique, with gaps like real ids: one id in each block of seven.
    nid = 100_000 + i * 7 + r.below(7)
    created = _created(r)
    sent = created + r.below(30 * _DAY)
    topics = ctx.counts["subscription_topics"]
    content = r.between(1, 900)
    row: Row = {
        "id": nid, "deduplicate_id": f"{nid}:{sent}",
        "type": r.pick(("email", "email", "email", "sms", "push", "in_app")),
        "content_ids": [content + n for n in range(r.between(1, 3))],
        "name": _title(r, i), "sent_at": sent, "created": created, "updated": sent,
        "recipient_segment_ids": _ids(r, ctx.counts["segments"], 2), "tags": _tags(r),
        "subscription_topic_id": r.between(1, topics) if topics else None,
    }
    # Unix seconds, 0 for a newsletter sent without a schedule (customerio-api.md, "Where the
    # live API differs").
    row["scheduled_at"] = sent - r.below(_DAY) if r.chance(40) else 0
    return row


def object_type(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("object_types", i)
    name, singular, icon = _OBJECT_TYPES[i % len(_OBJECT_TYPES)]
    if i >= len(_OBJECT_TYPES):
        suffix = i // len(_OBJECT_TYPES) + 1
        name, singular = f"{name} {suffix}", f"{singular} {suffix}"
    # Object type ids are strings in the published example, unlike every other table's id.
    return {
        "enabled": not r.chance(15), "icon": icon, "id": str(i + 1), "name": name,
        "singular_name": singular, "singular_slug": singular.lower().replace(" ", "_"),
        "slug": name.lower().replace(" ", "_"),
    }


def segment(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("segments", i)
    created = _created(r)
    updated = created + r.below(200 * _DAY)
    manual = r.chance(30)
    state = "events" if manual else r.pick(_SEGMENT_STATES)
    row: Row = {
        "id": i + 1, "deduplicate_id": f"{i + 1}:{updated}",
        "name": f"{'Manual' if manual else 'Dynamic'} Segment {i + 1}",
        "description": f"People who {r.pick(_EVENTS).replace('_', ' ')}",
        "state": state,
        # `progress` is null except while a segment builds (the example shows null).
        "progress": r.below(100) if state == "building" else None,
        "type": "manual" if manual else "dynamic",
        # `tags` is null rather than [] on untagged segments (segments_list.json).
        "tags": _tags(r) if r.chance(50) else None,
        "created_at": created, "updated_at": updated,
    }
    _maybe_unknown_field(row, r, 15)
    return row


def sender_identity_hidden(ctx: GenContext, i: int) -> bool:
    """About one sender in eight is hidden: listed only with `?hidden=true` (customerio-api.md)."""
    return ctx.key("sender_identities-hidden", i) % 8 == 0


def sender_identity(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("sender_identities", i)
    sid = 4_000 + i * 3 + r.below(3)  # ascending and unique, with gaps
    first, last = r.pick(_FIRST), r.pick(_LAST)
    email = f"{first.lower()}.{last.lower().replace('-', '')}{i + 1}@{r.pick(_DOMAINS)}"
    name = f"{first} {last}"
    # Live rows carry a boolean `hidden`, and sometimes `phone` (customerio-api.md, "Where the
    # live API differs").
    row: Row = {
        "id": sid, "deduplicate_id": f"{sid}:{_created(r)}", "name": name, "email": email,
        "address": f"{name} <{email}>", "template_type": "email", "auto_generated": r.chance(10),
        "hidden": sender_identity_hidden(ctx, i),
    }
    if r.chance(10):
        row["phone"] = f"+1555{r.between(1_000_000, 9_999_999)}"
    return row


def snippet(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("snippets", i)
    base = _SNIPPETS[i % len(_SNIPPETS)]
    # Snippets have no id: the name is the key, so names must be unique.
    name = base if i < len(_SNIPPETS) else f"{base}_{i // len(_SNIPPETS) + 1}"
    value = (f"<strong>{r.pick(_LAST)} Inc</strong><br/>{r.between(1, 9999)} Fake St<br/>"
             f"{r.pick(('Fake,NY', 'Paris', 'Berlin'))}<br/>{r.between(10000, 99999)}")
    return {"name": name, "value": value, "updated_at": _created(r)}


def subscription_topic(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("subscription_topics", i)
    name = f"{r.pick(_ADJECTIVES)} {r.pick(_NOUNS)} {i + 1}"
    return {
        "name": name, "description": f"For people who want {name.lower()}.",
        "subscribed_by_default": r.chance(40), "id": i + 1, "identifier": f"topic_{i + 1}",
    }


def transactional(ctx: GenContext, i: int) -> Row:
    r = ctx.rng("transactional", i)
    created = _created(r)
    kind = r.pick(("password reset", "receipt", "order shipped", "magic link", "invoice",
                   "email verification", "two-factor code"))
    return {
        "id": i + 1, "name": f"{kind} {i + 1}", "description": f"Sends the {kind}.",
        "send_to_unsubscribed": r.chance(70), "link_tracking": r.chance(50),
        "open_tracking": r.chance(50), "hide_message_body": r.chance(30),
        "queue_drafts": r.chance(20), "created_at": created,
        "updated_at": created + r.below(100 * _DAY),
    }


BUILDERS: dict[str, Callable[[GenContext, int], Row]] = {
    "broadcasts": broadcast,
    "campaigns": campaign,
    "collections": collection,
    "newsletters": newsletter,
    "object_types": object_type,
    "segments": segment,
    "sender_identities": sender_identity,
    "snippets": snippet,
    "subscription_topics": subscription_topic,
    "transactional": transactional,
}
