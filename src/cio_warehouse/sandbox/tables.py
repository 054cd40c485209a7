"""The ten App API list resources as the sandbox serves them: path, envelope key, paging."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    name: str
    path: str
    # The envelope key differs from the table name on three tables (customerio-api.md:
    # object_types -> "types", subscription_topics -> "topics", transactional -> "messages").
    list_key: str
    # Only newsletters and sender_identities are cursor-paged: `limit` in, `next` out, sent back
    # as `start`.
    paged: bool = False


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("broadcasts", "/v1/broadcasts", "broadcasts"),
        TableSpec("campaigns", "/v1/campaigns", "campaigns"),
        TableSpec("collections", "/v1/collections", "collections"),
        TableSpec("newsletters", "/v1/newsletters", "newsletters", paged=True),
        TableSpec("object_types", "/v1/object_types", "types"),
        TableSpec("segments", "/v1/segments", "segments"),
        TableSpec("sender_identities", "/v1/sender_identities", "sender_identities", paged=True),
        TableSpec("snippets", "/v1/snippets", "snippets"),
        TableSpec("subscription_topics", "/v1/subscription_topics", "topics"),
        TableSpec("transactional", "/v1/transactional", "messages"),
    )
}

TABLE_BY_PATH: dict[str, TableSpec] = {spec.path: spec for spec in TABLES.values()}
