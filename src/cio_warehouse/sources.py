"""Linking and unlinking Customer.io workspaces: shared by the CLI and the web app."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cio_warehouse import catalog
from cio_warehouse.customerio import AppAPIClient, ClientSettings, regions
from cio_warehouse.secret import Secret
from cio_warehouse.state import SourceConfig, SourceSettings, StateError, StateStore
from cio_warehouse.sync.source_tables import prepare_source_tables
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.admin import check_destination

# A source name becomes a SQL schema and a URL path segment: keep it to safe identifiers.
# (Starting with a letter also keeps dlt's own `_dlt...` names out of reach.)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

# Schema names a new source may not take: loading into them would write into, or fail on, a
# schema the warehouse already has, and `source remove --drop-data` would drop it.
_IN_USE = "the warehouse has a schema or database of that name already"
RESERVED_NAMES: dict[str, str] = {
    "public": _IN_USE,  # PostgreSQL's default schema (Snowflake's too)
    "main": _IN_USE,  # DuckDB's default schema
    "information_schema": _IN_USE,
    "pg_catalog": _IN_USE,
    "temp": _IN_USE,  # DuckDB's temporary catalog: `temp.campaigns` is ambiguous
    "system": _IN_USE,  # DuckDB's system catalog, the same
    # DuckDB names a database after its file (warehouse.duckdb), and the Delta reader's
    # in-memory one `memory`: `select * from warehouse.campaigns` is ambiguous there.
    "warehouse": _IN_USE,
    "memory": _IN_USE,
    # The shared webhook inbox (docs/deployment.md) may live in the warehouse's database.
    "cio_inbox": "the shared webhook inbox keeps its tables in that schema",
}
STAGING_SUFFIX = "_staging"  # dlt stages each load in `<source>_staging`


def _reserved_because(name: str) -> str | None:
    if name.endswith(STAGING_SUFFIX):
        base = name.removesuffix(STAGING_SUFFIX)
        return f"source {base!r} would stage its loads in that schema"
    # PostgreSQL refuses to create a schema named pg_... ("reserved for system schemas").
    if name.startswith("pg_"):
        return "PostgreSQL keeps schema names starting with pg_ for itself"
    if f"{name}{STAGING_SUFFIX}".startswith("pg_"):  # `pg`
        return (f"its loads would stage in {name}{STAGING_SUFFIX}, and PostgreSQL keeps schema "
                "names starting with pg_ for itself")
    return RESERVED_NAMES.get(name)


def check_name_format(name: str) -> str:
    """A name that can be a source's (an existing source may have a name reserved since)."""
    if not _NAME.match(name):
        raise StateError(
            f"Invalid source name {name!r}: use lowercase letters, digits and underscores, "
            "starting with a letter (it becomes the SQL schema: `select * from acme.campaigns`)."
        )
    return name


def validate_name(name: str) -> str:
    """The name of a new source: its format, and not a schema name the warehouse reserves."""
    check_name_format(name)
    because = _reserved_because(name)
    if because is not None:
        suggestion = (
            "staging_" + name.removesuffix(STAGING_SUFFIX) if name.endswith(STAGING_SUFFIX)
            else "cio_" + name
        )
        raise StateError(
            f"The source name {name!r} is reserved, as each source becomes a SQL schema of its "
            f"name and {because}: pick another name, e.g. {suggestion!r}."
        )
    return name


def validate_tables(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in catalog.BY_NAME]
    if unknown:
        raise StateError(
            f"Unknown table(s) {', '.join(unknown)}; choose from: {', '.join(catalog.BY_NAME)}."
        )
    return tuple(dict.fromkeys(names))


# customerio-api.md: a peer re-reads a lookback of 1 to 180 days; history past ten years is
# surely not kept.
HISTORY_DAYS = range(1, 3651)
LOOKBACK_DAYS = range(0, 181)


def validate_history(
    history_days: int | None, lookback_days: int | None,
    labels: tuple[str, str] = ("--history-days", "--lookback-days"),
) -> None:
    """The message history settings, or a StateError that says the allowed range; `labels` name
    the two settings as the caller's user typed them (CLI options, JSON fields)."""
    for label, value, allowed in ((labels[0], history_days, HISTORY_DAYS),
                                  (labels[1], lookback_days, LOOKBACK_DAYS)):
        if value is not None and value not in allowed:
            raise StateError(
                f"{label} must be between {allowed.start} and {allowed.stop - 1}, not {value}."
            )


# A person waits for these calls, from the CLI or the web app alike (a key check, the webhook's
# state, registering, enabling or deleting it): seconds of retries, not minutes. Syncs keep
# ClientSettings' budget: a run in the background rides out an outage of minutes.
INTERACTIVE_SETTINGS: dict[str, Any] = {
    "max_attempts": 2,
    "max_retry_seconds": 5.0,
    "max_rate_limited_seconds": 5.0,
    "connect_timeout": 5.0,
    "read_timeout": 15.0,
}


def client_for(source: SourceConfig, *, interactive: bool = False) -> AppAPIClient:
    """A client with its own rate limiter: all concurrent table syncs of one source share it.

    The source's settings may override any ClientSettings field (max_rps, timeouts, attempts);
    `interactive` then cuts the retry budget to INTERACTIVE_SETTINGS.
    """
    overrides = {**source.settings.client_overrides(),
                 **(INTERACTIVE_SETTINGS if interactive else {})}
    settings = ClientSettings(**overrides)
    return AppAPIClient(
        source.app_api_key,
        region=source.region,
        api_base_url=source.api_base_url,
        settings=settings,
    )


def link_source(
    store: StateStore,
    name: str,
    *,
    region: str,
    app_api_key: Secret,
    api_base_url: str | None = None,
    tables: Sequence[str] = (),
    max_rps: int | None = None,
    target: destination.Target | None = None,
    history_days: int | None = None,
    lookback_days: int | None = None,
) -> tuple[SourceConfig, list[dict[str, object]]]:
    """Check the key against Customer.io and that the destination answers, then save the source.
    Returns it and its workspaces. `target` defaults to $CIO_WAREHOUSE_DESTINATION, else DuckDB."""
    target = target if target is not None else destination.for_new_source(None)
    validate_name(name)
    validate_history(history_days, lookback_days)
    try:
        regions.base_url(region, api_base_url)  # an unknown region fails before any request
    except ValueError as exc:
        raise StateError(f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from None
    source = SourceConfig(
        name=name,
        region=region,
        app_api_key=app_api_key,
        api_base_url=api_base_url,
        tables=validate_tables(tables or catalog.DEFAULT_TABLES),
        settings=SourceSettings(
            max_rps=max_rps, history_days=history_days, lookback_days=lookback_days
        ),
        destination=target.url,
    )
    if name in store.source_names():
        # Same message as add_source, but before a request is spent on the key check.
        store.add_source(source)
    with client_for(source, interactive=True) as client:
        workspaces = client.check_key()
    check_destination(target)
    store.add_source(source)
    prepare_source_tables(store.data_dir, source)
    return source, workspaces
