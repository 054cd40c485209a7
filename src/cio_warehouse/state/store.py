"""The state store (SQLite in the data dir): sources, their encrypted secrets, every run."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cio_warehouse.secret import Secret
from cio_warehouse.state.alert_schema import ALERT_SCHEMA
from cio_warehouse.state.crypto import open_secret_box
from cio_warehouse.state.datadir import DataDir
from cio_warehouse.state.errors import StateError
from cio_warehouse.state.source_settings import SourceSettings
from cio_warehouse.state.sync_marks import SYNC_MARKS_SCHEMA, SyncMark

SCHEMA_VERSION = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    api_base_url TEXT,
    app_api_key BLOB NOT NULL,
    signing_key BLOB,
    previous_signing_key BLOB,
    tables TEXT NOT NULL,
    frequency_seconds INTEGER NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    destination BLOB
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    table_name TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL,
    rows INTEGER,
    pages INTEGER,
    retries INTEGER,
    error TEXT,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_table ON runs (source, table_name, id);
"""

DEFAULT_FREQUENCY_SECONDS = 6 * 3600


@dataclass(frozen=True)
class SourceConfig:
    name: str
    region: str
    app_api_key: Secret
    api_base_url: str | None = None
    tables: tuple[str, ...] = ()
    frequency_seconds: int = DEFAULT_FREQUENCY_SECONDS
    signing_key: Secret | None = None
    previous_signing_key: Secret | None = None
    settings: SourceSettings = field(default_factory=SourceSettings)
    created_at: float = 0.0
    # Where its tables land, as a destination URL (warehouse.destination); None: the data dir's
    # DuckDB file. A Secret: a URL may hold a password.
    destination: Secret | None = None


@dataclass(frozen=True)
class RunRecord:
    id: int
    source: str
    table: str
    started_at: float
    ended_at: float | None
    status: str  # running | succeeded | failed | interrupted
    rows: int | None
    pages: int | None
    retries: int | None
    error: str | None

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


class StateStore:
    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir.create()
        # Nothing is written before the state and its key are known to be sound: a damaged or
        # missing state.db or key file must stay as it is for the user to restore.
        # The key file is only ever written after state.db has its header (journal_mode below),
        # so a key file next to a missing or empty state.db means lost state, never a process
        # creating this data dir at the same moment (hence the key file is looked at first).
        if data_dir.secret_key_file.exists() and not _has_content(data_dir.state_db):
            raise StateError(
                f"The state file {data_dir.state_db} is missing or empty but "
                f"{data_dir.secret_key_file} is there, so this data dir's sources and run history "
                "are gone: restore state.db from a backup, or, to start over with no sources, "
                "move secret.key out of the data dir as well (keep it for that backup; the "
                "warehouse data is kept)."
            )
        with self._connect(transaction=False) as db:
            version, sealed = self._check(db)
            self._box = open_secret_box(data_dir.secret_key_file, sealed, self._start_over())
            if version < SCHEMA_VERSION:
                self._migrate(db)

    def _check(self, db: sqlite3.Connection) -> tuple[int, bytes | None]:
        """The schema version and one sealed secret (None: none yet) of a readable state."""
        try:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.data_dir.state_db} was written by a newer cio-warehouse (schema "
                    f"{version}); upgrade cio-warehouse to use this data dir."
                )
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                first = " ".join(problems[0].replace("*** in database main ***", "").split())
                raise self._damaged(f"damaged: {first[:200]}")
            row = db.execute(
                "SELECT app_api_key FROM sources ORDER BY rowid LIMIT 1"
            ).fetchone() if version else None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None
        return version, None if row is None else row[0]

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Create or upgrade the schema in one transaction, only when needed: opening a current
        state writes nothing, so that it can still be read on a full disk."""
        db.execute("BEGIN IMMEDIATE")
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process's upgrade?
        if version == SCHEMA_VERSION:
            db.execute("ROLLBACK")
            return
        for statement in (_SCHEMA + SYNC_MARKS_SCHEMA + ALERT_SCHEMA).split(";"):
            if statement.strip():
                db.execute(statement)
        if 0 < version < 2:  # v2: a destination per source (NULL: the data dir's DuckDB)
            db.execute("ALTER TABLE sources ADD COLUMN destination BLOB")
        # v3: sync_marks; v4: the alert tables. Created above like any missing table.
        if 3 <= version < 5:  # v5: where a history table's synced days begin
            db.execute("ALTER TABLE sync_marks ADD COLUMN synced_from REAL")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")

    def _start_over(self) -> str:
        """How to drop this data dir's state and keep its warehouse: the end of an error."""
        moved = "state.db and secret.key" if self.data_dir.secret_key_file.exists() else "state.db"
        return (
            f"to start over with no sources, move {moved} out of {self.data_dir.root} (the "
            "warehouse data is kept)"
        )

    def _damaged(self, why: str) -> StateError:
        return StateError(
            f"The state file {self.data_dir.state_db} is unreadable ({why}): restore it from a "
            f"backup, or, {self._start_over()}."
        )

    @contextmanager
    def _connect(self, *, transaction: bool = True) -> Iterator[sqlite3.Connection]:
        # A connection per operation: table syncs run in threads, and sqlite3 connections are not
        # shared across threads. WAL lets readers (transaction=False: no write lock taken, e.g.
        # the receiver's key lookups) run while a sync writes.
        path = self.data_dir.state_db
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(str(exc)) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._damaged(str(exc)) from None
        try:
            if transaction:
                db.execute("BEGIN IMMEDIATE")
            yield db
            if db.in_transaction:
                db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise StateError(
                    f"The state file {path} could not be used ({exc}): check the free disk space "
                    "and the file's permissions; if it is damaged, restore it from a backup."
                ) from None
            raise
        finally:
            db.close()

    # -- sources -------------------------------------------------------------------------------

    # The columns a SourceConfig writes, in the order of _stored() below.
    _WRITTEN = (
        "region", "api_base_url", "app_api_key", "signing_key", "previous_signing_key", "tables",
        "frequency_seconds", "settings", "destination",
    )

    def _stored(self, source: SourceConfig) -> tuple[object, ...]:
        """The source as stored: secrets sealed, lists and settings as JSON."""
        return (
            source.region,
            source.api_base_url,
            self._box.encrypt(source.app_api_key),
            self._seal(source.signing_key),
            self._seal(source.previous_signing_key),
            json.dumps(list(source.tables)),
            source.frequency_seconds,
            json.dumps(source.settings.to_json()),
            self._seal(source.destination),
        )

    def add_source(self, source: SourceConfig) -> None:
        with self._connect() as db:
            if db.execute("SELECT 1 FROM sources WHERE name = ?", (source.name,)).fetchone():
                raise StateError(
                    f"A source named {source.name!r} already exists; pick another name or remove "
                    f"it first with `cio-warehouse source remove {source.name}`."
                )
            columns = ", ".join(("name", *self._WRITTEN, "created_at"))
            marks = ", ".join("?" * (len(self._WRITTEN) + 2))
            db.execute(
                f"INSERT INTO sources ({columns}) VALUES ({marks})",
                (source.name, *self._stored(source), time.time()),
            )

    def update_source(self, source: SourceConfig) -> None:
        with self._connect() as db:
            assignments = ", ".join(f"{column} = ?" for column in self._WRITTEN)
            updated = db.execute(
                f"UPDATE sources SET {assignments} WHERE name = ?",
                (*self._stored(source), source.name),
            ).rowcount
        if not updated:
            raise self._unknown(source.name)

    def get_source(self, name: str) -> SourceConfig:
        with self._connect(transaction=False) as db:
            row = db.execute(
                "SELECT name, region, api_base_url, app_api_key, signing_key, previous_signing_key,"
                " tables, frequency_seconds, settings, created_at, destination FROM sources"
                " WHERE name = ?",
                (name,),
            ).fetchone()
        if row is None:
            raise self._unknown(name)
        return SourceConfig(
            name=row[0],
            region=row[1],
            api_base_url=row[2],
            app_api_key=self._box.decrypt(row[3]),
            signing_key=self._open(row[4]),
            previous_signing_key=self._open(row[5]),
            tables=tuple(json.loads(row[6])),
            frequency_seconds=row[7],
            settings=SourceSettings.from_json(json.loads(row[8])),
            created_at=row[9],
            destination=self._open(row[10]),
        )

    def source_names(self) -> list[str]:
        with self._connect(transaction=False) as db:
            return [r[0] for r in db.execute("SELECT name FROM sources ORDER BY name")]

    def remove_source(self, name: str) -> None:
        with self._connect() as db:
            if not db.execute("DELETE FROM sources WHERE name = ?", (name,)).rowcount:
                raise self._unknown(name)
            db.execute("DELETE FROM sync_marks WHERE source = ?", (name,))

    def _unknown(self, name: str) -> StateError:
        known = ", ".join(self.source_names()) or "none yet"
        return StateError(
            f"No source named {name!r} (known: {known}); add one with `cio-warehouse source add`."
        )

    def _seal(self, secret: Secret | None) -> bytes | None:
        return None if secret is None else self._box.encrypt(secret)

    def _open(self, token: bytes | None) -> Secret | None:
        return None if token is None else self._box.decrypt(token)

    # For the alert tables (state/alert_store.py): the same connections and key.
    connect, seal, unseal = _connect, _seal, _open

    # -- runs ----------------------------------------------------------------------------------

    def start_run(self, source: str, table: str) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs (source, table_name, started_at, status, pid)"
                " VALUES (?, ?, ?, 'running', ?)",
                (source, table, time.time(), os.getpid()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        rows: int | None,
        pages: int | None,
        retries: int | None,
        error: str | None = None,
    ) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, rows = ?, pages = ?, retries = ?,"
                " error = ? WHERE id = ?",
                (time.time(), status, rows, pages, retries, error, run_id),
            )

    def runs(self, source: str, table: str | None = None, limit: int = 50) -> list[RunRecord]:
        self._close_orphaned_runs()
        query = (
            "SELECT id, source, table_name, started_at, ended_at, status, rows, pages, retries,"
            " error FROM runs WHERE source = ?"
        )
        params: tuple[object, ...] = (source,)
        if table is not None:
            query += " AND table_name = ?"
            params += (table,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._connect(transaction=False) as db:
            return [RunRecord(*row) for row in db.execute(query, (*params, limit))]

    def last_runs(self, source: str) -> dict[str, RunRecord]:
        """The latest run of every table of `source`, and the latest successful one if different."""
        self._close_orphaned_runs()
        with self._connect(transaction=False) as db:
            rows = db.execute(
                "SELECT id, source, table_name, started_at, ended_at, status, rows, pages, retries,"
                " error FROM runs WHERE id IN"
                " (SELECT max(id) FROM runs WHERE source = ? GROUP BY table_name)",
                (source,),
            ).fetchall()
        return {row[2]: RunRecord(*row) for row in rows}

    def run_counts(self) -> dict[tuple[str, str, str], int]:
        """Finished runs per (source, table, status) over the whole history (GET /metrics)."""
        self._close_orphaned_runs()
        with self._connect(transaction=False) as db:
            rows = db.execute("SELECT source, table_name, status, count(*) FROM runs"
                              " WHERE status != 'running' GROUP BY 1, 2, 3").fetchall()
        return {(source, table, status): n for source, table, status, n in rows}

    def last_success(self, source: str, table: str) -> RunRecord | None:
        with self._connect(transaction=False) as db:
            row = db.execute(
                "SELECT id, source, table_name, started_at, ended_at, status, rows, pages, retries,"
                " error FROM runs WHERE source = ? AND table_name = ? AND status = 'succeeded'"
                " ORDER BY id DESC LIMIT 1",
                (source, table),
            ).fetchone()
        return None if row is None else RunRecord(*row)

    # -- incremental tables ----------------------------------------------------------------------

    def sync_mark(self, source: str, table: str) -> SyncMark:
        with self._connect(transaction=False) as db:
            row = db.execute(
                "SELECT synced_until, target_until, synced_from FROM sync_marks"
                " WHERE source = ? AND table_name = ?",
                (source, table),
            ).fetchone()
        return SyncMark(None, None, None) if row is None else SyncMark(*row)

    def set_sync_mark(self, source: str, table: str, column: str, value: float) -> None:
        """Set `synced_until` or `synced_from` (after a load committed), or `target_until` (as
        a run starts)."""
        if column not in ("synced_until", "target_until", "synced_from"):
            raise ValueError(f"no sync mark column {column!r}")
        with self._connect() as db:
            db.execute(
                f"INSERT INTO sync_marks (source, table_name, {column}, updated_at)"  # noqa: S608
                " VALUES (?, ?, ?, ?) ON CONFLICT (source, table_name) DO UPDATE SET"
                f" {column} = excluded.{column}, updated_at = excluded.updated_at",
                (source, table, value, time.time()),
            )

    def _close_orphaned_runs(self) -> None:
        """A run whose process is gone (kill -9, power loss) is recorded as interrupted."""
        with self._connect(transaction=False) as db:
            running = db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        dead = [run_id for run_id, pid in running if not _alive(pid)]
        if not dead:
            return
        with self._connect() as db:
            db.executemany(
                "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ?"
                " WHERE id = ? AND status = 'running'",
                [
                    (
                        time.time(),
                        "The sync process stopped before finishing; the previous rows were "
                        "kept. Run the sync again.",
                        run_id,
                    )
                    for run_id in dead
                ],
            )


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False
