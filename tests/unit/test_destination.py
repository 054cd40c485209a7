"""Destination URLs: what each means, what is refused, and that a password never shows."""

from __future__ import annotations

import pytest

from cio_warehouse.secret import Secret
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
