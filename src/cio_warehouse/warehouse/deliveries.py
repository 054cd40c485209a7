"""`deliveries`: one row per delivery id across message history and the webhook's event tables.

A view, not a table kept current: it is always exactly what `messages` and the event tables hold
(no second copy to keep in step with loads from two sides, nothing to repair after a crash), and
an engine groups millions of rows per second (docs/benchmarks.md measures it). The same SELECT
runs on DuckDB, PostgreSQL and, through the Delta reader's DuckDB, on Delta tables.

Each row: the ids and the recipient of the delivery, when it was created (history's `created`,
else its first event), the first time of each metric from either side, and `from_history` /
`from_webhook`, which say where it was seen.
"""

from __future__ import annotations

from collections.abc import Collection

from cio_warehouse import catalog

VIEW = "deliveries"
METRICS = catalog.MESSAGE_METRICS
# Every table the view reads; a source gets them all, empty, when it is linked (ensure_tables).
BASE_TABLES: tuple[str, ...] = (catalog.MESSAGES.name, *(t.name for t in catalog.EVENT_TABLES))
_IDS = ("campaign_id", "broadcast_id", "newsletter_id", "action_id", "transactional_message_id")
COLUMNS: tuple[str, ...] = (
    "delivery_id", "channel", *_IDS, "recipient", "customer_id", "created_at",
    *(f"{metric}_at" for metric in METRICS), "from_history", "from_webhook",
)
# The SQL types of COLUMNS that are not timestamps.
_TYPES = {
    "delivery_id": "VARCHAR", "channel": "VARCHAR", "recipient": "VARCHAR",
    "customer_id": "VARCHAR", "from_history": "BOOLEAN", "from_webhook": "BOOLEAN",
    **{column: "BIGINT" for column in _IDS},
}
# /v1/messages names SMS by its provider.
_HISTORY_CHANNEL = "CASE type WHEN 'twilio' THEN 'sms' ELSE type END"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _history_part(schema: str) -> str:
    metrics = ", ".join(_ident(f"{m}_at") for m in METRICS)
    return (
        f"SELECT id AS delivery_id, {_HISTORY_CHANNEL} AS channel, campaign_id, broadcast_id,"
        " newsletter_id, action_id, CAST(NULL AS BIGINT) AS transactional_message_id,"
        f" recipient, customer_id, created AS created_at, {metrics}, 1 AS h, 0 AS w"
        f" FROM {_ident(schema)}.{_ident(catalog.MESSAGES.name)}"
    )


def _events_part(schema: str, table: catalog.Table) -> str:
    if table is catalog.UNROUTED_EVENTS:
        channel = "object_type"
    elif table.object_types == ("customer",):
        # A subscription change a message caused carries its channel as object_type.
        channel = "CASE WHEN object_type <> 'customer' THEN object_type END"
    else:
        channel = f"'{table.object_types[0]}'"
    metrics = ", ".join(
        f"CASE WHEN metric = '{m}' THEN \"timestamp\" END AS {_ident(f'{m}_at')}" for m in METRICS
    )
    return (
        f"SELECT delivery_id, {channel} AS channel, {', '.join(_IDS)}, recipient, customer_id,"
        f" \"timestamp\" AS created_at, {metrics}, 0 AS h, 1 AS w"
        f" FROM {_ident(schema)}.{_ident(table.name)} WHERE delivery_id IS NOT NULL"
    )


def select_sql(schema: str, present: Collection[str] = BASE_TABLES) -> str:
    """The view's SELECT over the base tables in `present` (a missing one has no rows)."""
    parts = []
    if catalog.MESSAGES.name in present:
        parts.append(_history_part(schema))
    parts += [_events_part(schema, t) for t in catalog.EVENT_TABLES if t.name in present]
    if not parts:  # no table yet: the right columns, no rows
        return "SELECT " + ", ".join(
            f"CAST(NULL AS {_TYPES.get(c, 'TIMESTAMP WITH TIME ZONE')}) AS {_ident(c)}"
            for c in COLUMNS) + " WHERE 1 = 0"
    firsts = ", ".join(f"MIN({_ident(f'{m}_at')}) AS {_ident(f'{m}_at')}" for m in METRICS)
    ids = ", ".join(f"MAX({column}) AS {column}" for column in _IDS)
    return (
        "SELECT delivery_id,"
        " COALESCE(MAX(CASE WHEN h = 1 THEN channel END), MAX(channel)) AS channel,"
        f" {ids}, MAX(recipient) AS recipient, MAX(customer_id) AS customer_id,"
        " COALESCE(MIN(CASE WHEN h = 1 THEN created_at END), MIN(created_at)) AS created_at,"
        f" {firsts}, MAX(h) = 1 AS from_history, MAX(w) = 1 AS from_webhook"
        f" FROM ({' UNION ALL '.join(parts)}) AS d GROUP BY delivery_id"
    )


def create_view_sql(schema: str, present: Collection[str] = BASE_TABLES) -> str:
    """(Re)create the view in place, so that a reader never finds it missing. PostgreSQL
    refuses a replacement whose columns changed: drop_view_sql first, then."""
    return f"CREATE OR REPLACE VIEW {_view(schema)} AS {select_sql(schema, present)}"


def drop_view_sql(schema: str) -> str:
    return f"DROP VIEW IF EXISTS {_view(schema)}"


def _view(schema: str) -> str:
    return f"{_ident(schema)}.{_ident(VIEW)}"


def relation(tables: Collection[str], schema: str) -> str:
    """The source's `deliveries` view when `tables` (those of its schema) has it; else, where it
    was never created (a source not synced since this version), the same SELECT over the tables
    there are."""
    if VIEW in tables:
        return f"{_ident(schema)}.{_ident(VIEW)}"
    present = [t for t in BASE_TABLES if t in tables]
    return f"({select_sql(schema, present)}) AS d"
