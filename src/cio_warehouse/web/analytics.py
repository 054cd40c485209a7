"""Message activity and delivery funnels in SQL over a source's event tables and API tables.

Tables and columns appear as data arrives (a channel with no event yet has no table, and dlt adds
a column once a value for it is seen), so each query is built from the columns that exist now:
what is missing counts as no rows, never as an error. The SQL is portable: DuckDB (and Delta Lake
through it) and PostgreSQL run the same text; times are computed here and passed as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cio_warehouse import catalog
from cio_warehouse.warehouse.readers import SqlCursor

FunnelKind = Literal["campaign", "broadcast", "newsletter"]
FUNNEL_KINDS: tuple[FunnelKind, ...] = ("campaign", "broadcast", "newsletter")
FUNNEL_METRICS = ("sent", "delivered", "opened", "clicked")
# Per channel: the selectable event tables and whatsapp; unrouted events have no channel.
CHANNEL_TABLES = tuple(t.name for t in catalog.EVENT_TABLES if t is not catalog.UNROUTED_EVENTS)


def ident(name: str) -> str:
    """A quoted SQL identifier (source names are validated already; quote anyway)."""
    return '"' + name.replace('"', '""') + '"'


def columns_by_table(cursor: SqlCursor, schema: str) -> dict[str, set[str]]:
    rows = cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?",
        [schema],
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


@dataclass(frozen=True)
class ActivityRow:
    day: str
    channel: str
    metric: str
    events: int


def activity(cursor: SqlCursor, source: str, days: int) -> list[ActivityRow]:
    """Events per UTC day, channel and metric over the last `days` days."""
    tables = columns_by_table(cursor, source)
    parts = [
        f"SELECT CAST(\"timestamp\" AT TIME ZONE 'UTC' AS DATE) AS day,"
        f" '{table.removesuffix('_events')}' AS channel, metric"
        f" FROM {ident(source)}.{ident(table)}"
        " WHERE \"timestamp\" >= ? AND metric IS NOT NULL"
        for table in CHANNEL_TABLES
        if {"timestamp", "metric"} <= tables.get(table, set())
    ]
    if not parts:
        return []
    since = datetime.now(UTC) - timedelta(days=days)
    rows = cursor.execute(
        "SELECT day, channel, metric, count(*) FROM ("
        + " UNION ALL ".join(parts)
        + ") AS events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        [since] * len(parts),
    ).fetchall()
    return [ActivityRow(day.isoformat(), channel, metric, int(n))
            for day, channel, metric, n in rows]


@dataclass(frozen=True)
class FunnelRow:
    kind: FunnelKind
    id: int
    name: str | None
    sent: int
    delivered: int
    opened: int
    clicked: int


def funnels(
    cursor: SqlCursor, source: str, kind: FunnelKind, limit: int
) -> list[FunnelRow]:
    """Distinct deliveries that reached each step, per campaign (broadcast, newsletter), with
    its name from the API table; every one the API table lists, even with no event yet."""
    tables = columns_by_table(cursor, source)
    id_column = f"{kind}_id"
    events = [
        f"SELECT {id_column} AS id, metric, delivery_id FROM {ident(source)}.{ident(table)}"
        f" WHERE {id_column} IS NOT NULL AND metric IN ({', '.join(map(repr, FUNNEL_METRICS))})"
        for table in CHANNEL_TABLES
        if {id_column, "metric", "delivery_id"} <= tables.get(table, set())
    ]
    names_table = f"{kind}s"
    has_names = {"id", "name"} <= tables.get(names_table, set())
    if not events and not has_names:
        return []
    steps = ", ".join(
        f"count(DISTINCT delivery_id) FILTER (WHERE metric = '{m}') AS {m}" for m in FUNNEL_METRICS
    )
    counts = (
        f"SELECT id, {steps} FROM ({' UNION ALL '.join(events)}) AS events GROUP BY id"
        if events
        else "SELECT NULL::BIGINT AS id, " + ", ".join(f"0 AS {m}" for m in FUNNEL_METRICS)
        + " WHERE false"
    )
    names = (
        f"SELECT CAST(id AS BIGINT) AS id, max(CAST(name AS VARCHAR)) AS name"
        f" FROM {ident(source)}.{ident(names_table)} GROUP BY 1"
        if has_names
        else "SELECT NULL::BIGINT AS id, NULL::VARCHAR AS name WHERE false"
    )
    totals = ", ".join(f"coalesce(c.{m}, 0)" for m in FUNNEL_METRICS)
    rows = cursor.execute(
        f"WITH c AS ({counts}), n AS ({names})"
        f" SELECT coalesce(c.id, n.id) AS id, n.name, {totals}"
        " FROM c FULL OUTER JOIN n ON c.id = n.id"
        " WHERE coalesce(c.id, n.id) IS NOT NULL"
        " ORDER BY 3 DESC, 1 LIMIT ?",
        [limit],
    ).fetchall()
    return [FunnelRow(kind, int(r[0]), r[1], *(int(v) for v in r[2:])) for r in rows]


def deliveries_since(cursor: SqlCursor, source: str, seconds: int) -> int:
    """Events that reached the warehouse with a receive time in the last `seconds` seconds."""
    tables = columns_by_table(cursor, source)
    parts = [
        f"SELECT count(*) AS n FROM {ident(source)}.{ident(t.name)} WHERE received_at >= ?"
        for t in catalog.EVENT_TABLES
        if "received_at" in tables.get(t.name, set())
    ]
    if not parts:
        return 0
    since = datetime.now(UTC) - timedelta(seconds=seconds)
    found = cursor.execute(
        f"SELECT sum(n) FROM ({' UNION ALL '.join(parts)}) AS counts", [since] * len(parts)
    ).fetchone()
    return int(found[0] or 0) if found else 0
