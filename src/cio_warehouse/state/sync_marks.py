"""The state store's marks of incremental tables (schema v3, `synced_from` v5): which days of a
history table its committed loads cover."""

from __future__ import annotations

from dataclasses import dataclass

SYNC_MARKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_marks (
    source TEXT NOT NULL,
    table_name TEXT NOT NULL,
    synced_until REAL,
    target_until REAL,
    updated_at REAL NOT NULL,
    synced_from REAL,
    PRIMARY KEY (source, table_name)
);
"""


@dataclass(frozen=True)
class SyncMark:
    """An incremental table's progress: the committed windows span [synced_from, synced_until);
    target_until is where the run that wrote them meant to end (less: it stopped early)."""

    synced_until: float | None
    target_until: float | None
    synced_from: float | None

    @property
    def stopped_early(self) -> bool:
        return (self.synced_until is not None and self.target_until is not None
                and self.synced_until < self.target_until)
