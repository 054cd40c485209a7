"""Destination URLs: what each means, what is refused, and that a password never shows."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from cio_warehouse.secret import Secret, url_holds_secret
from cio_warehouse.state import DataDir
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.destination import DestinationError, parse


@pytest.mark.parametrize(("url", "engine", "dlt_name"), [
    ("duckdb", "duckdb", "duckdb"),
    ("", "duckdb", "duckdb"),
    ("postgresql://etl:s3cret@db.internal:5432/analytics", "postgres", "postgres"),
    ("postgres://etl:s3cret@db.internal/analytics", "postgres", "postgres"),
    ("delta:///srv/lake", "delta", "filesystem"),
    ("delta+s3://bucket/prefix", "delta", "filesystem"),
    ("clickhouse://etl:s3cret@ch.internal:9440/analytics", "clickhouse", "clickhouse"),
    ("snowflake://etl:s3cret@acme-xy123/ANALYTICS?warehouse=LOADING&role=ETL",
     "snowflake", "snowflake"),
    ("bigquery://my-project?location=EU", "bigquery", "bigquery"),
])
def test_each_url_picks_its_engine_and_dlt_destination(
    url: str, engine: str, dlt_name: str, tmp_path: object
) -> None:
    target = parse(url)
    assert target.engine.name == engine
    built = target.dlt_destination(DataDir(tmp_path))  # type: ignore[arg-type]
    assert built.destination_name == dlt_name
    assert "s3cret" not in target.display()
    assert "s3cret" not in repr(target)
    assert target.table_format == ("delta" if engine == "delta" else None)


def test_display_masks_passwords_in_the_userinfo_and_the_query() -> None:
    shown = parse("snowflake://etl:pw1@acct/DB?warehouse=W&private_key_passphrase=pw2").display()
    assert "pw1" not in shown and "pw2" not in shown
    assert shown.startswith("snowflake://etl:***@acct/DB?warehouse=W")


@pytest.mark.parametrize(("url", "says"), [
    ("oracle://x/y", "Unknown destination 'oracle'"),
    ("postgresql:///analytics", "needs a host"),
    ("postgresql://etl:pw@db:5432", "needs a database"),
    ("delta://relative/path", "must be absolute"),
    ("duckdb:///tmp/other.duckdb", "data dir's own warehouse.duckdb"),
])
def test_unusable_urls_are_refused_with_what_to_write(url: str, says: str) -> None:
    with pytest.raises(DestinationError, match=says):
        parse(url)


def test_only_sql_engines_we_can_read_are_queryable() -> None:
    queryable = {name for name, e in destination.ENGINES.items() if e.queryable}
    assert queryable == {"duckdb", "postgres", "delta"}
    assert not destination.ENGINES["clickhouse"].transactional_replace


def test_the_environment_sets_the_default_for_new_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(destination.ENV_DESTINATION, "delta:///srv/lake")
    assert destination.for_new_source(None).engine.name == "delta"
    assert destination.for_new_source("duckdb").is_default
    assert destination.of_source(Secret("delta:///srv/lake")).engine.name == "delta"
    assert destination.of_source(None).is_default


@pytest.mark.parametrize(("url", "asks"), [
    ("postgresql://etl@db:5432/analytics", True),
    ("postgres://etl@db/analytics", True),
    ("clickhouse://etl@ch:9440/analytics", False),  # its default user has no password
    ("snowflake://etl@acct/DB?private_key_path=/k.p8", False),  # key-pair login
    ("postgresql://etl:s3cret@db/analytics", False),  # has one
    ("postgresql://etl:@db/analytics", False),  # an empty one, given on purpose
    ("postgresql://db/analytics", False),  # no user: libpq's defaults
    ("delta:///srv/lake", False),
    ("bigquery://my-project", False),
])
def test_a_url_with_a_user_and_no_password_asks_for_one(url: str, asks: bool) -> None:
    assert destination.asks_password(url) is asks


def test_a_password_goes_into_the_url_encoded() -> None:
    password = "p@ss:w/rd%?#"
    url = destination.with_password("postgresql://etl@db:5432/analytics?sslmode=require",
                                    Secret(password))
    parts = urlsplit(url)
    assert unquote(parts.password or "") == password
    assert (parts.username, parts.hostname, parts.port, parts.path, parts.query) == (
        "etl", "db", 5432, "/analytics", "sslmode=require")
    assert parse(url).display() == "postgresql://etl:***@db:5432/analytics?sslmode=require"


@pytest.mark.parametrize(("url", "holds"), [
    ("postgresql://etl:s3cret@db/analytics", True),
    ("snowflake://etl@acct/DB?private_key_passphrase=x", True),
    ("postgresql://etl@db/analytics?sslmode=require", False),
    ("delta:///srv/lake", False),
])
def test_what_counts_as_a_secret_in_a_url(url: str, holds: bool) -> None:
    assert url_holds_secret(url) is holds
