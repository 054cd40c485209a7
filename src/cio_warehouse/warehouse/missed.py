"""What the webhook missed: deliveries message history has and the webhook never reported.

Counted per UTC day of creation, over the span the webhook was delivering (from its first
delivery's creation to its last one's), among deliveries history says were sent (every webhook
subscription includes the *_sent events). A delivery created before the webhook was enabled, or
after its latest event, is not counted: nothing says the webhook should have seen it. Such a gap
is filled already: `deliveries` holds the missed ones from history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cio_warehouse.warehouse.readers import SqlCursor


@dataclass(frozen=True)
class MissedDay:
    day: date
    missed: int  # sent deliveries in history that the webhook never reported
    in_history: int  # sent deliveries in history that day, within the webhook's span

    def sentence(self) -> str:
        return (
            f"The webhook missed {self.missed} of {self.in_history} deliveries on "
            f"{self.day.isoformat()}; message history has them, so the deliveries view is "
            "complete for that day."
        )


def missed_by_webhook(cursor: SqlCursor, relation: str, days: int = 30) -> list[MissedDay]:
    """Per day of the last `days`, oldest first, the days on which the webhook missed any.

    `relation` is the source's `deliveries` (deliveries.relation)."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = cursor.execute(
        "WITH d AS MATERIALIZED (SELECT created_at, sent_at, from_history, from_webhook"
        f" FROM {relation}),"
        " span AS (SELECT min(created_at) AS first_at, max(created_at) AS last_at"
        " FROM d WHERE from_webhook)"
        " SELECT CAST(d.created_at AT TIME ZONE 'UTC' AS DATE) AS day,"
        " count(*) FILTER (WHERE NOT d.from_webhook) AS missed, count(*) AS in_history"
        " FROM d, span WHERE d.from_history AND d.sent_at IS NOT NULL"
        " AND d.created_at BETWEEN span.first_at AND span.last_at AND d.created_at >= ?"
        " GROUP BY 1 ORDER BY 1",
        [since],
    ).fetchall()
    return [MissedDay(day, int(missed), int(seen)) for day, missed, seen in rows if missed]
