"""A batch's rows appended straight into DuckDB or PostgreSQL, skipping the keys already loaded.

Why not a dlt load per batch on these two: dlt writes the batch to a file, normalizes it into a
load package, stages it in `<dataset>_staging` and merges it (delete-insert): ~0.25 s a load
plus ~26 us an event on this project's 2-core benchmark machine, more than half of a drain's
time. Here a batch is one transaction from the Arrow table it already is: DuckDB reads the
Arrow table in place; PostgreSQL takes it by COPY. A key already in the table is skipped rather
than replaced, which gives the same rows: the inbox stores each event_id once, so a row loaded
twice (after a crash between the warehouse commit and the inbox mark) is the same row.

dlt keeps what it does better: it creates the tables and adds the columns a batch brings (a new
variant column), from the batch's schema with no rows (pipelines.py), so every table keeps the
shape dlt gives it; and it loads every other engine (Delta's MERGE is the table format's own;
ClickHouse, BigQuery and Snowflake have no path here, measured or tested).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute
import pyarrow.csv

# The batch as DuckDB sees it: a view of the Arrow table, on this connection only.
_DUCKDB_VIEW = "cio_batch"


@dataclass(frozen=True)
class Batch:
    """One table's rows, and the column no two rows of the table share."""

    data: pa.Table
    key: str


class Appends(Protocol):
    """A warehouse that takes batches directly."""

    def columns(self, dataset: str) -> dict[str, set[str]]:
        """The columns of each table the dataset has (none: the dataset does not exist)."""

    def append(self, dataset: str, batches: Mapping[str, Batch]) -> None:
        """Insert each table's rows whose key the table lacks, all tables in one transaction."""

    def close(self) -> None: ...


class DuckDBAppends:
    """Appends on a connection to the data dir's warehouse (the locked-down instance the caller
    holds open: duckdb_file.py). No index on the key: the anti-join hashes the batch's keys and
    probes them with a scan of the key column, and nothing can add a key in between (one
    process writes the file, its appends under the write lock); an ART index would be one more
    structure to hold in memory and update at every insert. The scan reads only the row groups
    whose keys can fall within the batch's least and greatest: event_ids are ULIDs, which begin
    with their time, so a batch of recent events skips the old rows (2,000,000 rows: ~60 ms
    a batch scanning all, ~8 ms pruned)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def columns(self, dataset: str) -> dict[str, set[str]]:
        rows = self._con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = ?",
            [dataset],
        ).fetchall()
        return _by_table(rows)

    def append(self, dataset: str, batches: Mapping[str, Batch]) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, batch in batches.items():
                con.register(_DUCKDB_VIEW, batch.data)
                try:
                    key = _quote(batch.key)
                    # Compared by DuckDB itself: the same order as the scan's.
                    span = con.execute(f"SELECT min({key}), max({key}) FROM {_DUCKDB_VIEW}")
                    con.execute(_anti_join_insert(dataset, table, batch), span.fetchone())
                finally:
                    con.unregister(_DUCKDB_VIEW)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        """The caller owns the connection."""


class PostgresAppends:
    """Appends over one psycopg2 connection, kept between batches (a login costs ~10 ms).

    The batch's keys the table already has are looked up (an index scan) and left out, and the
    rest is COPY'd (CSV, written by Arrow's C++ writer) straight into the table: a temporary
    table and an INSERT ... ON CONFLICT DO NOTHING from it cost as much again (each row written
    twice, its JSON parsed twice). A unique index on the key, which dlt does not make, is made
    here (IF NOT EXISTS at each batch: a dataset dropped and made again comes without it): it
    makes the look-up an index scan, and keeps a key once in the engine itself, so a row another
    loader added between the look-up and the COPY fails the COPY (retried as a failed batch is)
    instead of doubling a row. Every row so far was merged on the key, so the index builds.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._con: Any = None

    def _connection(self) -> Any:
        import psycopg2  # dlt's postgres extra brings it

        if self._con is None or self._con.closed:
            try:
                self._con = psycopg2.connect(
                    self._url, connect_timeout=10, application_name="cio-warehouse loader"
                )
            except psycopg2.OperationalError as exc:
                raise ConnectionError(f"could not connect to PostgreSQL: {exc}") from exc
        return self._con

    def columns(self, dataset: str) -> dict[str, set[str]]:
        con = self._connection()
        with con, con.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, a.attname FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')"
                " AND a.attnum > 0 AND NOT a.attisdropped",
                [dataset],
            )
            return _by_table(cursor.fetchall())

    def append(self, dataset: str, batches: Mapping[str, Batch]) -> None:
        import psycopg2

        con = self._connection()
        try:
            with con, con.cursor() as cursor:  # one transaction: committed on leaving
                for table, batch in batches.items():
                    self._append_table(cursor, dataset, table, batch)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            # The server went away (or refused the work as a whole): a batch, split, would fail
            # the same way. Reconnect next time, and let the loader back off.
            self.close()
            raise ConnectionError(f"PostgreSQL failed the load: {exc}") from exc

    def _append_table(self, cursor: Any, dataset: str, table: str, batch: Batch) -> None:
        target = f"{_quote(dataset)}.{_quote(table)}"
        key = _quote(batch.key)
        index = _quote(f"{table}__{batch.key}__key")
        cursor.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {target} ({key})")
        keys = batch.data.column(batch.key)
        cursor.execute(f"SELECT {key} FROM {target} WHERE {key} = ANY(%s)", [keys.to_pylist()])
        loaded = [row[0] for row in cursor.fetchall()]
        data = batch.data
        if loaded:
            data = data.filter(pyarrow.compute.invert(pyarrow.compute.is_in(
                keys, value_set=pa.array(loaded, keys.type))))
        # Columns with no value in the batch are left out: NULL either way, and less to write.
        data = data.select([i for i, column in enumerate(data.columns)
                            if column.null_count < len(column)])
        if not data.num_rows:
            return
        names = ", ".join(_quote(name) for name in data.column_names)
        csv = io.BytesIO()
        pyarrow.csv.write_csv(data, csv, pyarrow.csv.WriteOptions(include_header=False))
        csv.seek(0)
        # CSV: an empty field unquoted is NULL, "" is an empty string (Arrow quotes every string).
        cursor.copy_expert(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT csv)", csv)

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None


def _anti_join_insert(dataset: str, table: str, batch: Batch) -> str:
    target = f"{_quote(dataset)}.{_quote(table)}"
    names = ", ".join(_quote(name) for name in batch.data.column_names)
    key = _quote(batch.key)
    # A key equal to one of the batch's lies between its least and greatest: a filter on
    # constants, which DuckDB checks against each row group's min/max before reading it.
    return (
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {_DUCKDB_VIEW} AS b"
        f" ANTI JOIN (SELECT {key} FROM {target} WHERE {key} BETWEEN $1 AND $2) AS t"
        f" ON t.{key} = b.{key}"
    )


def _by_table(rows: list[tuple[Any, ...]]) -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _quote(name: str) -> str:
    """An identifier as both engines read it (names come from the catalog and source names)."""
    return '"' + name.replace('"', '""') + '"'
