"""Signing keys for receivers on a shared inbox: published, encrypted, in the inbox's database.

A receiver on another machine has no data dir (the state store is a SQLite file of the service's
machine, and SQLite over a network file system is not safe to share), but it does reach the
shared PostgreSQL inbox. So the service publishes each source's signing keys there, in
`cio_inbox.signing_keys`, Fernet-encrypted with the data dir's secret key, and every receiver of a
shared inbox reads them from there with the same secret key ($CIO_WAREHOUSE_SECRET_KEY, or the
data dir's secret.key when it runs beside the service). A signing key is never stored in clear.

The service publishes at start and whenever a source, or a key, changes (it looks every
PUBLISH_EVERY_SECONDS); a source removed is unpublished, so its deliveries become 404s.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg2.extras

from cio_warehouse.log_throttle import LogThrottle
from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, StateError, StateStore
from cio_warehouse.state.crypto import ENV_SECRET_KEY, SecretBox, load_or_create_key
from cio_warehouse.webhooks.inbox.model import InboxUnavailable
from cio_warehouse.webhooks.inbox.postgres_schema import SCHEMA, ensure_schema
from cio_warehouse.webhooks.inbox.postgres_session import Cursor, PostgresSession

log = logging.getLogger(__name__)

# A key saved with `webhook signing-key` reaches remote receivers this long after, at most.
PUBLISH_EVERY_SECONDS = 0.5
_LOG_EVERY_SECONDS = 60.0

_Keys = tuple[Secret | None, Secret | None]  # current, previous
T = TypeVar("T")


class _Session:
    """One inbox session, used under a lock by whichever thread asks: each `run` is one
    transaction. Errors come out as InboxUnavailable, without the password."""

    def __init__(self, url: Secret, timeout: float, purpose: str) -> None:
        self._lock = threading.Lock()
        self._session = PostgresSession(url, timeout=timeout, purpose=purpose,
                                        setup=ensure_schema)

    def run(self, work: Callable[[Cursor], T]) -> T:
        with self._lock, self._session.transaction() as cur:
            return work(cur)

    def close(self) -> None:
        with self._lock:
            self._session.close()


class KeyPublisher:
    """In the service, when the inbox is shared: the state store's keys -> the inbox database."""

    def __init__(self, store: StateStore, url: Secret, *,
                 interval: float = PUBLISH_EVERY_SECONDS) -> None:
        self._store = store
        self._box = SecretBox(load_or_create_key(store.data_dir.secret_key_file))
        self._session = _Session(url, 10.0, "key publisher")
        self._interval = interval
        self._published: dict[str, _Keys] | None = None  # None: not yet (publish everything)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # a failure is not yet followed by the line saying it is over
        self._log_throttle = LogThrottle(_LOG_EVERY_SECONDS)

    def publish(self) -> int:
        """One round: publish what changed since the last; how many sources were written or
        removed. Raises InboxUnavailable when the database cannot be written."""
        current: dict[str, _Keys] = {}
        for name in self._store.source_names():
            try:
                source = self._store.get_source(name)
            except StateError as exc:  # removed meanwhile, or undecryptable: leave it as it is
                if self._published is not None and name in self._published:
                    current[name] = self._published[name]
                log.debug("not publishing the keys of %r: %s", name, exc)
                continue
            current[name] = (source.signing_key, source.previous_signing_key)
        known = self._published
        changed = {n: k for n, k in current.items() if known is None or known.get(n) != k}
        removed = [] if known is None else [n for n in known if n not in current]
        if changed or removed or known is None:
            rows = [(name, self._seal(keys[0]), self._seal(keys[1]), time.time())
                    for name, keys in sorted(changed.items())]
            names = sorted(current)

            def write(cur: Cursor) -> None:
                if rows:
                    psycopg2.extras.execute_values(
                        cur,
                        f"INSERT INTO {SCHEMA}.signing_keys (source, signing_key,"
                        " previous_signing_key, published_at) VALUES %s ON CONFLICT (source) DO"
                        " UPDATE SET signing_key = excluded.signing_key, previous_signing_key ="
                        " excluded.previous_signing_key, published_at = excluded.published_at",
                        rows,
                    )
                if known is None:  # the first round: whatever else is there is stale
                    cur.execute(f"DELETE FROM {SCHEMA}.signing_keys WHERE NOT (source = ANY(%s))",
                                (names,))
                elif removed:
                    cur.execute(f"DELETE FROM {SCHEMA}.signing_keys WHERE source = ANY(%s)",
                                (removed,))

            self._session.run(write)
        self._published = current
        return len(changed) + len(removed)

    def _seal(self, key: Secret | None) -> bytes | None:
        return None if key is None else self._box.encrypt(key)

    def start(self) -> KeyPublisher:
        """Publish once now (raising if the database cannot be written), then keep publishing."""
        self.publish()
        self._thread = threading.Thread(target=self._run, name="key-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._session.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.publish()
            except Exception as exc:  # noqa: BLE001  retried next round; receivers keep theirs
                self._failed(exc)
            else:
                if self._failing:
                    log.warning("signing keys are published to the shared inbox again")
                    self._failing = False
                    self._log_throttle.reset()  # the next failure is news again

    def _failed(self, exc: Exception) -> None:
        self._failing = True
        if self._log_throttle.allow():
            log.warning("could not publish the signing keys to the shared inbox (receivers keep "
                        "the keys they have; a new key waits): %s", exc)


@dataclass(frozen=True)
class PublishedSource:
    """What SigningKeys reads of a source (the attributes it reads of a SourceConfig)."""

    name: str
    signing_key: Secret | None
    previous_signing_key: Secret | None


class PublishedKeys:
    """The receivers' side. It answers what SigningKeys asks of a StateStore (source_names and
    get_source), from the published table. Reads run in SigningKeys' worker threads."""

    def __init__(self, url: Secret, secret_key: bytes, *, timeout: float = 2.0) -> None:
        self._box = SecretBox(secret_key)
        self._session = _Session(url, timeout, "receiver keys")

    def source_names(self) -> list[str]:
        def read(cur: Cursor) -> list[str]:
            cur.execute(f"SELECT source FROM {SCHEMA}.signing_keys")
            return [row[0] for row in cur.fetchall()]

        return self._session.run(read)

    def get_source(self, name: str) -> PublishedSource:
        def read(cur: Cursor) -> tuple[bytes | None, bytes | None] | None:
            cur.execute(f"SELECT signing_key, previous_signing_key FROM {SCHEMA}.signing_keys"
                        " WHERE source = %s", (name,))
            row = cur.fetchone()
            return None if row is None else (_bytes(row[0]), _bytes(row[1]))

        row = self._session.run(read)
        if row is None:
            raise StateError(f"No source named {name!r} is published in the shared inbox.")
        return PublishedSource(name, self._open(row[0]), self._open(row[1]))

    def check(self) -> None:
        """At start: the keys published so far open with this receiver's secret key. Raises
        StateError saying what to set otherwise (every delivery would be answered 503). A
        database that is down is no reason not to start: the check waits for a later read."""
        try:
            names = self.source_names()
        except InboxUnavailable as exc:
            log.warning("cannot check the published signing keys yet: %s", exc)
            return
        for name in names:
            self.get_source(name)

    def close(self) -> None:
        self._session.close()

    def _open(self, token: bytes | None) -> Secret | None:
        if token is None:
            return None
        try:
            return self._box.decrypt(token)
        except StateError:
            raise StateError(
                "The signing keys published in the shared inbox cannot be decrypted with this "
                f"receiver's secret key: set ${ENV_SECRET_KEY} to the service's (the content of "
                "secret.key in its data dir, or its own $" + ENV_SECRET_KEY + ")."
            ) from None


def _bytes(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


def receiver_secret_key(data_dir: DataDir | None) -> bytes:
    """The key that opens the published signing keys: $CIO_WAREHOUSE_SECRET_KEY, else the data
    dir's secret.key if there is one (a receiver beside the service). Never created here: a new
    key would open nothing."""
    from_env = os.environ.get(ENV_SECRET_KEY)
    if from_env:
        return from_env.encode()
    if data_dir is not None and data_dir.secret_key_file.exists():
        return load_or_create_key(data_dir.secret_key_file)
    raise StateError(
        f"A receiver on a shared inbox needs the service's secret key: set ${ENV_SECRET_KEY} to "
        "the content of secret.key in the service's data dir (or to the service's own "
        f"${ENV_SECRET_KEY}); it opens the signing keys the service publishes in the inbox."
    )
