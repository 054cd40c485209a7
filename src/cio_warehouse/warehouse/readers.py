"""Read-only SQL sessions on a source's warehouse, whatever its engine.

The query path, the table browser and the charts run through `SqlCursor`: one shape (execute with
`?` placeholders, fetch, description) over DuckDB and psycopg2, whose placeholders and return
values differ. DuckDB and Delta Lake speak DuckDB's SQL (Delta tables are read by an embedded
DuckDB); PostgreSQL speaks its own, and refuses writes itself: its sessions are read-only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import duckdb

from cio_warehouse.state import DataDir
from cio_warehouse.warehouse import postgres_login
from cio_warehouse.warehouse.destination import Target, delta_location
from cio_warehouse.warehouse.duckdb_file import open_read_only

Dialect = Literal["duckdb", "postgres"]

# A browser tab or a CLI user can start a query that never ends; the service that runs it (and
# a warehouse shared with a team) should not pay for it.
ENV_QUERY_TIMEOUT = "CIO_WAREHOUSE_QUERY_TIMEOUT"
DEFAULT_QUERY_TIMEOUT_SECONDS = 60.0


class QueryError(Exception):
    """A query could not run; the message says why and what to do."""


class WarehouseUnavailable(QueryError):
    """The warehouse could not be reached (down, locked, wrong credentials): try again later."""


def query_timeout() -> float:
    """Seconds a statement may run: $CIO_WAREHOUSE_QUERY_TIMEOUT, else 60."""
    raw = os.environ.get(ENV_QUERY_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_QUERY_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86_400:
        raise QueryError(
            f"{ENV_QUERY_TIMEOUT}={raw!r} is not a time limit: give the seconds a query may run, "
            "e.g. 60."
        )
    return seconds


def timed_out(seconds: float) -> QueryError:
    return QueryError(
        f"The query ran longer than its limit of {seconds:g} s and was stopped: narrow it (a "
        f"WHERE on a timestamp, fewer columns, a LIMIT), or raise {ENV_QUERY_TIMEOUT}."
    )


class SqlCursor:
    """One cursor over DuckDB or psycopg2, with `?` placeholders for our own SQL.

    Every statement runs under the query time limit: PostgreSQL's statement_timeout on its
    session, and on DuckDB, which has no such setting, an interrupt of this cursor's connection
    alone when the limit passes (the loads and other queries on the instance go on).
    """

    def __init__(
        self, raw: Any, dialect: Dialect, owner: Any = None, timeout: float | None = None
    ) -> None:
        self._raw = raw
        self.dialect: Dialect = dialect
        self._owner = owner  # closed with the cursor (a connection opened for it alone)
        self.timeout = query_timeout() if timeout is None else timeout

    def execute(
        self, sql: str | duckdb.Statement, params: Sequence[object] | None = None
    ) -> SqlCursor:
        if self.dialect == "postgres":
            if params is not None:
                assert isinstance(sql, str)
                sql = sql.replace("%", "%%").replace("?", "%s")
            try:
                self._raw.execute(sql, params)
            except Exception as exc:
                if type(exc).__name__ == "QueryCanceled":  # psycopg2: statement_timeout
                    raise timed_out(self.timeout) from None
                raise
            return self
        # DuckDB's execute materializes the whole result: the deadline covers the work.
        deadline = threading.Timer(self.timeout, self._raw.interrupt)
        deadline.daemon = True
        deadline.start()
        try:
            self._raw.execute(sql, params)
        except duckdb.InterruptException:
            raise timed_out(self.timeout) from None
        finally:
            deadline.cancel()
        return self

    @contextmanager
    def read_only(self) -> Iterator[None]:
        """A READ ONLY transaction around what runs inside (a DuckDB instance that loads cannot
        refuse writes otherwise); PostgreSQL's sessions are read-only already."""
        if self.dialect == "postgres":
            yield
            return
        self._raw.execute("BEGIN TRANSACTION READ ONLY")
        try:
            yield
        finally:
            self._raw.execute("ROLLBACK")

    @property
    def description(self) -> Any:
        return self._raw.description

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._raw.fetchone()
        return None if row is None else tuple(row)

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._raw.fetchmany(size)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._raw.fetchall()]

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            if self._owner is not None:
                self._owner.close()


def open_cursor(target: Target, data_dir: DataDir, datasets: Sequence[str]) -> SqlCursor:
    """A read-only cursor on `target`, opened for this cursor alone (the service reads the data
    dir's DuckDB through its own shared connection instead: service/api.py)."""
    engine = target.engine
    if not engine.queryable:
        raise QueryError(
            f"{engine.label} is not queried through cio-warehouse: {engine.caveat}"
        )
    if target.is_default:
        return SqlCursor(*_duckdb_file(data_dir))
    assert target.url is not None
    if engine.name == "postgres":
        return SqlCursor(*_postgres(postgres_login.query_url(target.url.reveal())))
    # Imported here: deltalake takes a while to import and only Delta sources need it.
    from cio_warehouse.warehouse.delta_reader import open_delta

    try:
        con = open_delta(delta_location(target.url.reveal()), datasets)
    except Exception as exc:  # noqa: BLE001  storage errors of any kind: say which
        raise WarehouseUnavailable(f"The Delta Lake tables could not be opened: {exc}") from None
    # Registered Arrow datasets are seen by that connection only, not by its cursors.
    return SqlCursor(con, "duckdb")


def _duckdb_file(data_dir: DataDir) -> tuple[Any, Dialect, Any]:
    if not data_dir.warehouse.exists():
        raise QueryError(
            f"The warehouse {data_dir.warehouse} does not exist yet: add a source and run "
            "`cio-warehouse sync NAME` first."
        )
    try:
        con = open_read_only(data_dir)
    except duckdb.IOException as exc:
        raise WarehouseUnavailable(
            f"The warehouse is locked by another process ({first_line(exc)}); wait for the "
            "running sync to finish, or run `cio-warehouse serve` so that the CLI goes through it."
        ) from None
    return con.cursor(), "duckdb", con


def _postgres(url: str) -> tuple[Any, Dialect, Any]:
    con = connect_postgres(
        url,
        application_name="cio-warehouse query",
        options=f"-c default_transaction_read_only=on "
        f"-c statement_timeout={int(query_timeout() * 1000)}",
    )
    con.set_session(readonly=True, autocommit=True)
    return con.cursor(), "postgres", con


def connect_postgres(url: str, **options: str) -> Any:
    """A psycopg2 connection to a destination, or WarehouseUnavailable saying what to check."""
    import psycopg2  # dlt's postgres extra brings it

    try:
        return psycopg2.connect(url, connect_timeout=10, **options)
    except psycopg2.Error as exc:
        raise WarehouseUnavailable(
            f"Could not connect to PostgreSQL: {first_line(exc)} Check that it runs and that the "
            "destination URL's user, password and database are right."
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
