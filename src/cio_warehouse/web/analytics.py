"""Message activity and delivery funnels in SQL over a source's `deliveries` and API tables.

Both read `deliveries` (warehouse/deliveries.py): message history and webhook events, one row per
delivery, so that history shows from the first sync. A table that is missing (a source linked
before this version, not synced since) counts as no rows, never as an error. The SQL is portable:
DuckDB (and Delta Lake through it) and PostgreSQL run the same text; times are computed here and
passed as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cio_warehouse import catalog
from cio_warehouse.warehouse import deliveries
from cio_warehouse.warehouse.missed import MissedDay, missed_by_webhook
from cio_warehouse.warehouse.readers import SqlCursor

FunnelKind = Literal["campaign", "broadcast", "newsletter"]
FUNNEL_KINDS: tuple[FunnelKind, ...] = ("campaign", "broadcast", "newsletter")
FUNNEL_METRICS = ("sent", "delivered", "opened", "clicked")


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
    events: int  # deliveries that first reached the metric that day


def activity(cursor: SqlCursor, source: str, days: int) -> list[ActivityRow]:
    """Per UTC day, channel and metric over the last `days` days: the deliveries that first
    reached the metric that day, from history and the webhook alike (`deliveries`)."""
    tables = columns_by_table(cursor, source)
    relation = deliveries.relation(tables, source)
    parts = [
        f"SELECT CAST({ident(f'{m}_at')} AT TIME ZONE 'UTC' AS DATE) AS day, channel,"
        f" '{m}' AS metric FROM d WHERE {ident(f'{m}_at')} >= ?"
        for m in deliveries.METRICS
    ]
    since = datetime.now(UTC) - timedelta(days=days)
    columns = ", ".join(ident(f"{m}_at") for m in deliveries.METRICS)
    rows = cursor.execute(
        # Materialized: the view is grouped once, not once per metric.
        f"WITH d AS MATERIALIZED (SELECT channel, {columns} FROM {relation})"
        " SELECT day, channel, metric, count(*) FROM ("
        + " UNION ALL ".join(parts)
        + ") AS reached WHERE channel IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
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
    """Per campaign (broadcast, newsletter), the deliveries that reached at least each stage (an
    opened delivery was delivered and sent), from history and the webhook alike, with its name
    from the API table; every one the API table lists, even with no delivery yet."""
    tables = columns_by_table(cursor, source)
    id_column = f"{kind}_id"
    steps = []
    for depth, metric in enumerate(FUNNEL_METRICS):
        reached = " OR ".join(f"{m}_at IS NOT NULL" for m in FUNNEL_METRICS[depth:])
        steps.append(f"count(*) FILTER (WHERE {reached}) AS {metric}")
    counts = (
        f"SELECT {id_column} AS id, {', '.join(steps)}"
        f" FROM {deliveries.relation(tables, source)} WHERE {id_column} IS NOT NULL GROUP BY 1"
    )
    names_table = f"{kind}s"
    names = (
        f"SELECT CAST(id AS BIGINT) AS id, max(CAST(name AS VARCHAR)) AS name"
        f" FROM {ident(source)}.{ident(names_table)} GROUP BY 1"
        if {"id", "name"} <= tables.get(names_table, set())
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


def missed_deliveries(cursor: SqlCursor, source: str, days: int = 30) -> list[MissedDay]:
    """The days of the last `days` on which the webhook missed deliveries history has
    (warehouse/missed.py); none when the warehouse cannot be read, since the webhook's status
    around it must still show."""
    try:
        relation = deliveries.relation(columns_by_table(cursor, source), source)
        return missed_by_webhook(cursor, relation, days)
    except Exception:  # noqa: BLE001  duckdb.Error, psycopg2.Error, a time limit: nothing to say
        return []
