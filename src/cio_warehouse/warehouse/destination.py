"""Where a source's tables land: a destination URL -> a dlt destination and what it can do.

The default is the data dir's embedded DuckDB file. The others are dlt destinations picked by a
URL, per source (`source add --destination`) or for every new source ($CIO_WAREHOUSE_DESTINATION):

    duckdb                                    the data dir's warehouse.duckdb (default)
    postgresql://user:password@host:5432/db   PostgreSQL (also postgres://)
    delta:///var/lib/lake  delta+s3://bucket/prefix  (also gs, az, abfss)
                                              Delta Lake tables through dlt's filesystem
                                              destination; object-store credentials come from
                                              dlt's own settings (docs/destinations.md)
    clickhouse://user:password@host:9440/db   ClickHouse (`pip install cio-warehouse[clickhouse]`)
    snowflake://user:password@account/db?warehouse=W&role=R
    bigquery://project-id[?location=EU]       BigQuery; credentials from dlt's settings

The URL may hold a password: it is kept as a Secret, encrypted at rest, shown masked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import dlt
from dlt.common.destination import Destination
from dlt.common.schema.typing import TLoaderMergeStrategy, TTableFormat
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from cio_warehouse.secret import Secret, mask_url
from cio_warehouse.state import DataDir, StateError
from cio_warehouse.warehouse import postgres_login
from cio_warehouse.warehouse.duckdb_file import duckdb_settings

ENV_DESTINATION = "CIO_WAREHOUSE_DESTINATION"


class DestinationError(StateError):
    """A destination URL that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Engine:
    """What a kind of destination can do, for `status`, the docs and the query path."""

    name: str
    label: str
    # A full refresh swaps a table in one transaction: readers see the old rows or the new.
    transactional_replace: bool
    # The SQL box, `query` and the web app's charts run on it.
    queryable: bool
    caveat: str = ""


ENGINES: dict[str, Engine] = {
    "duckdb": Engine("duckdb", "DuckDB (embedded)", True, True),
    "postgres": Engine("postgres", "PostgreSQL", True, True),
    "delta": Engine(
        "delta", "Delta Lake", True, True,
        "Queries run in an embedded DuckDB over the Delta tables' current versions.",
    ),
    "clickhouse": Engine(
        "clickhouse", "ClickHouse", False, False,
        "ClickHouse has no transactions: a replace is a table swap that readers may see "
        "half-done for a moment. Query it with ClickHouse's own clients.",
    ),
    "bigquery": Engine(
        "bigquery", "BigQuery", True, False,
        "Query it in BigQuery's console or clients.",
    ),
    "snowflake": Engine(
        "snowflake", "Snowflake", True, False,
        "Query it in Snowflake's console or clients.",
    ),
}

_SCHEMES = {
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "postgres": "postgres",
    "delta": "delta",
    "delta+file": "delta",
    "delta+s3": "delta",
    "delta+gs": "delta",
    "delta+az": "delta",
    "delta+abfss": "delta",
    "clickhouse": "clickhouse",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
}

# Engines that log in with a password: `source add` asks for one the URL leaves out. Not ClickHouse
# (its default user has none) nor Snowflake (key-pair logins have none).
_PASSWORD_ENGINES = ("postgres",)


@dataclass(frozen=True)
class Target:
    """A parsed destination: its engine and its URL (None: the data dir's DuckDB file)."""

    engine: Engine
    url: Secret | None = None

    @property
    def is_default(self) -> bool:
        return self.url is None

    def display(self) -> str:
        """The URL with its password masked: safe for status, logs and the browser."""
        if self.url is None:
            return "duckdb (the data dir's warehouse.duckdb)"
        return mask_url(self.url.reveal())

    def key(self, data_dir: DataDir) -> str:
        """Identifies the warehouse: loads into one warehouse are serialized within a process."""
        return str(data_dir.warehouse) if self.url is None else self.url.reveal()

    def dlt_destination(self, data_dir: DataDir) -> Destination:  # type: ignore[type-arg]
        if self.url is None:
            path = str(data_dir.warehouse)
            return dlt.destinations.duckdb(DuckDbCredentials(path, global_config=duckdb_settings()))
        url = self.url.reveal()
        name = self.engine.name
        if name == "postgres":
            return dlt.destinations.postgres(
                credentials=_postgres_url(postgres_login.loader_url(url))
            )
        if name == "delta":
            return dlt.destinations.filesystem(bucket_url=delta_location(url))
        if name == "bigquery":
            # Service-account credentials come from dlt's settings (docs/destinations.md).
            parts = urlsplit(url)
            options = dict(parse_qsl(parts.query))
            bigquery: Any = dlt.destinations.bigquery
            return bigquery(  # type: ignore[no-any-return]
                project_id=parts.netloc or None, location=options.get("location", "US")
            )
        factory: Any = getattr(dlt.destinations, name)
        return factory(credentials=url)  # type: ignore[no-any-return]

    @property
    def table_format(self) -> TTableFormat | None:
        """dlt's table_format hint every resource needs on this destination."""
        return "delta" if self.engine.name == "delta" else None


def parse(text: str | None) -> Target:
    """`duckdb` or a destination URL -> Target; raises DestinationError saying what is wrong."""
    raw = (text or "").strip()
    if raw in ("", "duckdb"):
        return Target(ENGINES["duckdb"])
    scheme = raw.split(":", 1)[0].lower() if ":" in raw else raw.lower()
    engine = _SCHEMES.get(scheme)
    if engine is None:
        known = ", ".join(sorted({s for s in _SCHEMES if "+" not in s}))
        raise DestinationError(
            f"Unknown destination {scheme!r}: give `duckdb` or a URL starting with one of "
            f"{known} (docs/destinations.md)."
        )
    if engine == "duckdb":
        raise DestinationError(
            "A DuckDB destination is the data dir's own warehouse.duckdb: give `duckdb` alone "
            "(use --data-dir to put it elsewhere)."
        )
    parts = urlsplit(raw)
    if engine in ("postgres", "clickhouse", "snowflake") and not parts.hostname:
        raise DestinationError(
            f"The {ENGINES[engine].label} URL needs a host: {scheme}://USER:PASSWORD@HOST"
            f"{':PORT' if engine != 'snowflake' else ''}/DATABASE."
        )
    if engine == "postgres" and (problem := postgres_login.problem(raw)):
        raise DestinationError(problem)
    if engine == "postgres" and not parts.path.strip("/"):
        raise DestinationError(
            "The PostgreSQL URL needs a database: postgresql://USER:PASSWORD@HOST:5432/DATABASE."
        )
    if engine == "delta":
        location = delta_location(raw)
        if location.startswith("file:") and not location.startswith("file:///"):
            raise DestinationError(
                "A local Delta Lake location must be absolute: delta:///var/lib/lake."
            )
    return Target(ENGINES[engine], Secret(raw))


def for_new_source(option: str | None) -> Target:
    """`source add --destination`, else $CIO_WAREHOUSE_DESTINATION, else the data dir's DuckDB."""
    return parse(option if option else os.environ.get(ENV_DESTINATION))


def asks_password(url: str) -> bool:
    """A PostgreSQL URL that names a user but no password: `source add` takes the password from
    elsewhere (an empty one, `user:@host`, is taken as given)."""
    parts = urlsplit(url)
    engine = _SCHEMES.get(parts.scheme.lower())
    return engine in _PASSWORD_ENGINES and bool(parts.username) and parts.password is None


def with_password(url: str, password: Secret) -> str:
    """`url` with `password` after its user, percent-encoded (libpq and dlt decode it)."""
    parts = urlsplit(url)
    user, host = parts.netloc.rsplit("@", 1)
    netloc = f"{user}:{quote(password.reveal(), safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def of_source(destination: Secret | None) -> Target:
    """A stored source's target (its URL was checked when the source was added)."""
    return parse(destination.reveal() if destination is not None else None)


def delta_location(url: str) -> str:
    """delta:///abs/path -> file:///abs/path; delta+s3://bucket/p -> s3://bucket/p."""
    scheme, rest = url.split(":", 1)
    if scheme.lower() == "delta":
        return "file:" + rest
    return scheme.split("+", 1)[1] + ":" + rest




def _postgres_url(url: str) -> str:
    # psycopg2 and dlt know postgresql://; postgres:// is a common spelling of the same.
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgres://") else url


def merge_strategy(destination: Destination) -> TLoaderMergeStrategy:  # type: ignore[type-arg]
    """How a batch meets the rows already loaded, deduplicating on the primary key.

    delete-insert (dlt's default merge: delete the staged keys from the table, insert the staged
    rows deduplicated by key, in one transaction) runs on every SQL destination dlt has; upsert
    (a MERGE) covers the file-based table formats (Delta, Iceberg) that lack delete-insert.
    """
    supported = destination.capabilities().supported_merge_strategies
    strategy: TLoaderMergeStrategy
    for strategy in ("delete-insert", "upsert"):
        if strategy in supported:
            return strategy
    return "delete-insert"
