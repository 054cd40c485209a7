"""Alert channels (their targets sealed like the App API keys), incidents and the outbox.

An incident's state and the messages its change owes every channel are written in one
transaction: a restart neither sends a transition twice nor forgets one still to send."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cio_warehouse.secret import Secret
from cio_warehouse.state.errors import StateError
from cio_warehouse.state.store import StateStore


@dataclass(frozen=True)
class StoredChannel:
    name: str
    kind: str  # slack | webhook | email
    target: Secret  # the URL, or an email channel's JSON {"to": ..., "smtp_url": ...}
    shown: str  # the target with its secrets masked
    created_at: float
    failures: int  # deliveries failed in a row
    last_error: str | None
    retry_at: float | None


@dataclass(frozen=True)
class Incident:
    source: str
    table: str  # "" when the incident is not about one table
    kind: str
    state: str  # firing | resolved
    message: str
    since: float
    mark: int | None  # what a counting check saw last (e.g. dead letters)


@dataclass(frozen=True)
class Pending:
    id: int
    channel: str
    notice: dict[str, object]


class AlertStore:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    # -- channels ---------------------------------------------------------------------------

    def add_channel(self, name: str, kind: str, target: Secret, shown: str) -> None:
        with self._store.connect() as db:
            if db.execute("SELECT 1 FROM alert_channels WHERE name = ?", (name,)).fetchone():
                raise StateError(
                    f"An alert channel named {name!r} already exists; pick another name or "
                    f"remove it first with `cio-warehouse alert remove {name}`."
                )
            db.execute(
                "INSERT INTO alert_channels (name, kind, target, shown, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, kind, self._store.seal(target), shown, time.time()),
            )

    def channels(self) -> list[StoredChannel]:
        with self._store.connect(transaction=False) as db:
            rows = db.execute(
                "SELECT name, kind, target, shown, created_at, failures, last_error, retry_at"
                " FROM alert_channels ORDER BY name"
            ).fetchall()
        return [self._channel(row) for row in rows]

    def channel(self, name: str) -> StoredChannel:
        for found in self.channels():
            if found.name == name:
                return found
        raise self._unknown(name)

    def _channel(self, row: tuple[Any, ...]) -> StoredChannel:
        name, kind, sealed, shown, created_at, failures, last_error, retry_at = row
        target = self._store.unseal(sealed)
        assert target is not None
        return StoredChannel(name, kind, target, shown, created_at, failures, last_error, retry_at)

    def remove_channel(self, name: str) -> None:
        with self._store.connect() as db:
            if not db.execute("DELETE FROM alert_channels WHERE name = ?", (name,)).rowcount:
                raise self._unknown(name)
            db.execute("DELETE FROM alert_outbox WHERE channel = ?", (name,))

    def _unknown(self, name: str) -> StateError:
        known = ", ".join(c.name for c in self.channels()) or "none yet"
        return StateError(
            f"No alert channel named {name!r} (known: {known}); add one with "
            "`cio-warehouse alert add`."
        )

    def channel_failed(self, name: str, error: str, retry_at: float) -> None:
        with self._store.connect() as db:
            db.execute(
                "UPDATE alert_channels SET failures = failures + 1, last_error = ?, retry_at = ?"
                " WHERE name = ?",
                (error, retry_at, name),
            )

    def channel_succeeded(self, name: str) -> None:
        with self._store.connect() as db:
            db.execute(
                "UPDATE alert_channels SET failures = 0, last_error = NULL, retry_at = NULL"
                " WHERE name = ? AND failures > 0",
                (name,),
            )

    # -- incidents and the outbox -------------------------------------------------------------

    def incidents(self) -> dict[tuple[str, str, str], Incident]:
        with self._store.connect(transaction=False) as db:
            rows = db.execute(
                "SELECT source, table_name, kind, state, message, since, mark FROM alert_incidents"
            ).fetchall()
        return {(r[0], r[1], r[2]): Incident(*r) for r in rows}

    def record(self, incident: Incident, notice: dict[str, object] | None) -> None:
        """Store the incident's state; with a notice (a change to tell), queue it for every
        channel, in the same transaction."""
        with self._store.connect() as db:
            db.execute(
                "INSERT INTO alert_incidents (source, table_name, kind, state, message, since,"
                " mark) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, table_name, kind) DO"
                " UPDATE SET state = excluded.state, message = excluded.message,"
                " since = excluded.since, mark = excluded.mark",
                (incident.source, incident.table, incident.kind, incident.state,
                 incident.message, incident.since, incident.mark),
            )
            if notice is not None:
                db.execute(
                    "INSERT INTO alert_outbox (channel, notice)"
                    " SELECT name, ? FROM alert_channels ORDER BY name",
                    (json.dumps(notice),),
                )

    def forget_source(self, sources: set[str]) -> None:
        """Drop the incidents of sources that are gone (never told: the source was removed)."""
        with self._store.connect() as db:
            known = {r[0] for r in db.execute("SELECT DISTINCT source FROM alert_incidents")}
            for gone in known - sources:
                db.execute("DELETE FROM alert_incidents WHERE source = ?", (gone,))

    def pending(self, channel: str) -> list[Pending]:
        with self._store.connect(transaction=False) as db:
            rows = db.execute(
                "SELECT id, channel, notice FROM alert_outbox WHERE channel = ? ORDER BY id",
                (channel,),
            ).fetchall()
        return [Pending(r[0], r[1], json.loads(r[2])) for r in rows]

    def sent(self, pending_id: int) -> None:
        with self._store.connect() as db:
            db.execute("DELETE FROM alert_outbox WHERE id = ?", (pending_id,))
