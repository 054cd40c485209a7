"""One session on the shared inbox's PostgreSQL database, connected again after a failure."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

import psycopg2
import psycopg2.extensions

from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.webhooks.inbox.model import InboxUnavailable

Connection: TypeAlias = psycopg2.extensions.connection
Cursor: TypeAlias = psycopg2.extensions.cursor


def connect(url: Secret, *, timeout: float, purpose: str, autocommit: bool = False,
            durable: bool = True) -> Connection:
    """A session on the inbox's database; InboxUnavailable (password-free) if there is none.

    `timeout` bounds the connection attempt and every statement; TCP keepalives notice a server
    that vanished without closing the connection (a machine that died, a cut network).
    `durable=False`: commits do not wait for the WAL flush (the health counters only)."""
    try:
        conn = psycopg2.connect(
            url.reveal(),
            connect_timeout=max(1, math.ceil(timeout)),
            application_name=f"cio-warehouse {purpose}",
            options=f"-c statement_timeout={int(timeout * 1000)}",
            keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
        )
    except psycopg2.Error as exc:
        raise InboxUnavailable(
            f"cannot connect to the inbox {mask_url(url.reveal())}: {scrub(exc, url)}"
        ) from None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            if not durable:
                cur.execute("SET synchronous_commit = off")
            else:
                # An ack promises the event survives a crash: never weaker than the server's WAL
                # flush (synchronous_commit off would lose the last acks on a server crash).
                cur.execute("SELECT current_setting('synchronous_commit')")
                if cur.fetchone()[0] == "off":
                    cur.execute("SET synchronous_commit = on")
        conn.autocommit = autocommit
    except psycopg2.Error as exc:
        conn.close()
        raise InboxUnavailable(f"the inbox {mask_url(url.reveal())}: {scrub(exc, url)}") from None
    return conn


def scrub(exc: BaseException, url: Secret) -> str:
    """An error's first line without the URL's password (libpq quotes a malformed DSN whole)."""
    text = " ".join(str(exc).strip().splitlines()[:1]) or type(exc).__name__
    raw = url.reveal()
    password = urlsplit(raw).password
    text = text.replace(raw, mask_url(raw))
    for secret in filter(None, {password, unquote(password or "")}):
        text = text.replace(secret, "***")
    return f"{type(exc).__name__}: {text}"


class PostgresSession:
    """A connection opened on first use (autocommit: statements commit one by one unless
    `transaction` groups them), and again after one broke; for one thread at a time.

    `setup` runs on each new connection (the schema's migrations); `durable=False` for the
    health counters only (see connect). Errors come out as InboxUnavailable, password-free."""

    def __init__(self, url: Secret, *, timeout: float, purpose: str, durable: bool = True,
                 setup: Callable[[Connection], None] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self._purpose = purpose
        self._durable = durable
        self._setup = setup
        self._db: Connection | None = None

    def __str__(self) -> str:
        return mask_url(self.url.reveal())

    def describe(self, exc: BaseException) -> str:
        return f"the inbox {self}: {scrub(exc, self.url)}"

    def connection(self) -> Connection:
        """The session, connected again if the last one failed."""
        if self._db is None or self._db.closed:
            db = connect(self.url, timeout=self.timeout, purpose=self._purpose, autocommit=True,
                         durable=self._durable)
            if self._setup is not None:
                try:
                    self._setup(db)
                except psycopg2.Error as exc:
                    db.close()
                    raise InboxUnavailable(self.describe(exc)) from None
            self._db = db
        return self._db

    @contextmanager
    def transaction(self, *, single: bool = False) -> Iterator[Cursor]:
        """One transaction (`single`: the one statement or query sent, committed on its own);
        a database error becomes InboxUnavailable (nothing committed), and a session that broke
        is dropped so that the next call connects again."""
        conn = self.connection()
        try:
            with conn.cursor() as cur:
                if not single:
                    cur.execute("BEGIN")
                yield cur
                if not single:
                    cur.execute("COMMIT")
        except psycopg2.Error as exc:
            self.abandon(conn)  # its own error would hide this one's cause
            raise InboxUnavailable(self.describe(exc)) from None
        except BaseException:
            self.abandon(conn)
            raise

    def abandon(self, conn: Connection) -> None:
        """Roll back what `conn` began; forget it if it broke."""
        if not conn.closed:
            with suppress(psycopg2.Error), conn.cursor() as cur:
                cur.execute("ROLLBACK")  # autocommit: conn.rollback() would do nothing
        if conn.closed and conn is self._db:
            self._db = None

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None and not db.closed:
            db.close()
