"""Link, change and unlink a source, the key checked before anything is saved."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from cio_warehouse import frequencies, webhook_links
from cio_warehouse.customerio import CustomerIOError, KeyRejectedError, ScopeMissingError, regions
from cio_warehouse.customerio.errors import RequestError
from cio_warehouse.ops.errors import OpsError, Refusal, sentence
from cio_warehouse.ops.sources import KEYS_PAGE, known_source
from cio_warehouse.secret import Secret
from cio_warehouse.sources import (
    client_for,
    link_source,
    validate_history,
    validate_name,
    validate_tables,
)
from cio_warehouse.state import SourceConfig, StateError, StateStore
from cio_warehouse.warehouse import destination
from cio_warehouse.warehouse.query import QueryError

# A stored key goes only to the host it was checked with (_refuse_new_host).


class Keep(Enum):
    KEEP = "keep"


KEEP: Final = Keep.KEEP  # a change that leaves the stored value as it is


def _region(value: str) -> str:
    try:
        return regions.check_region(value)
    except ValueError as exc:
        raise OpsError(sentence(exc), "region") from None


def _api_base_url(region: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        regions.base_url(region, value)
        urlsplit(value.strip()).port  # noqa: B018  (a port that is not a number raises)
        httpx.URL(value.strip())  # the client's own parse: a host like 999.0.0.1 fails here
    except (ValueError, httpx.InvalidURL) as exc:
        raise OpsError(sentence(exc), "api_base_url") from None
    return value.strip().rstrip("/")


def check_key(source: SourceConfig) -> list[dict[str, Any]]:
    """The workspaces the key sees, or a refusal that says what is wrong with the key."""
    try:
        # Interactive: a person waits for the answer, so it gives up after seconds.
        with client_for(source, interactive=True) as client:
            return client.check_key()
    except (KeyRejectedError, ScopeMissingError, RequestError) as exc:
        raise OpsError(str(exc), "app_api_key") from None
    except CustomerIOError as exc:
        field = "api_base_url" if source.api_base_url else "region"
        raise OpsError(f"The key could not be checked: {exc}", field) from None


def candidate(region: str, key: str, api_base_url: str | None) -> SourceConfig:
    """A source to check a key with: the region and API base URL checked first."""
    checked_region = _region(region)
    return SourceConfig(
        name="key_check",
        region=checked_region,
        app_api_key=Secret(key),
        api_base_url=_api_base_url(checked_region, api_base_url),
    )


def _tables(names: list[str]) -> tuple[str, ...]:
    if not names:
        raise OpsError("Select at least one table.", "tables")
    try:
        return validate_tables(names)
    except StateError as exc:
        raise OpsError(str(exc), "tables") from None


def _frequency(seconds: int) -> int:
    try:
        return frequencies.validate_frequency(seconds)
    except StateError as exc:
        raise OpsError(str(exc), "frequency_seconds") from None


def _history(history_days: int | None, lookback_days: int | None) -> None:
    """The message history settings in range, or a refusal naming the field at fault."""
    labels = ("history_days", "lookback_days")
    for field, pair in ((labels[0], (history_days, None)), (labels[1], (None, lookback_days))):
        try:
            validate_history(pair[0], pair[1], labels=labels)
        except StateError as exc:
            raise OpsError(str(exc), field) from None


def create_source(
    store: StateStore, name: str, region: str, app_api_key: str, *,
    api_base_url: str | None = None, tables: list[str] | None = None,
    frequency_seconds: int | None = None, destination_url: str | None = None,
    history_days: int | None = None, lookback_days: int | None = None, draft: bool = False,
) -> SourceConfig:
    """Check the input, then the key, then link the source (which checks the destination).
    `draft`: the wizard's, unscheduled until an update clears it (SourceChanges.draft).
    `tables` None: the catalog's default selection; `destination_url` None: the default one;
    `history_days`/`lookback_days` None: the defaults (30, 7)."""
    try:
        validate_name(name)
    except StateError as exc:
        raise OpsError(str(exc), "name") from None
    checked = candidate(region, app_api_key, api_base_url)
    selected = _tables(tables) if tables is not None else ()
    frequency = _frequency(frequency_seconds) if frequency_seconds is not None else None
    _history(history_days, lookback_days)
    if name in store.source_names():
        raise OpsError(f"A source named {name!r} exists already; pick another name.",
                       "name", Refusal.CONFLICT)
    try:
        target = destination.for_new_source(destination_url)
    except StateError as exc:
        raise OpsError(str(exc), "destination") from None
    check_key(checked)  # fails in seconds with the reason, before link_source checks again
    try:
        link_source(
            store, name, region=checked.region, app_api_key=checked.app_api_key,
            api_base_url=checked.api_base_url, tables=selected, target=target,
            history_days=history_days, lookback_days=lookback_days,
        )
    except QueryError as exc:  # the destination did not answer
        raise OpsError(str(exc), "destination") from None
    if frequency is not None:
        frequencies.set_source_frequency(store, name, frequency)
    if draft:
        linked = store.get_source(name)
        store.update_source(replace(linked, settings=replace(linked.settings, draft=True)))
    return store.get_source(name)


@dataclass(frozen=True)
class SourceChanges:
    region: str | None = None
    app_api_key: str | None = None
    api_base_url: str | None | Keep = KEEP  # None or "": back to the region's host
    tables: list[str] | None = None
    frequency_seconds: int | None = None
    table_frequencies: dict[str, int | None] | None = None  # None seconds: follow the source
    # Message history: None goes back to the default (30 and 7 days).
    history_days: int | None | Keep = KEEP
    lookback_days: int | None | Keep = KEEP
    paused: bool | None = None  # None: as it is
    draft: bool | None = None  # False: the wizard's Import, the source is scheduled from now


def _same_url(stored: str | None, new: str | None) -> bool:
    # Sources linked by the CLI keep the URL as typed (e.g. a trailing slash): the same host.
    return (stored or "").strip().rstrip("/") == (new or "").strip().rstrip("/")


def _refuse_new_host(source: SourceConfig, region: str, api_base_url: str | None) -> None:
    """A stored key goes only to the host it was checked with: another region or API base URL
    could be anyone's server (a typo, a proxy, a hostile admin session), and even the key check
    would hand it the key. So moving the source needs the key typed again, as linking did."""
    moved = [
        what for what, same in (
            ("region", region == source.region),
            ("API base URL", _same_url(source.api_base_url, api_base_url)),
        ) if not same
    ]
    if moved:
        raise OpsError(
            f"Changing the {' and the '.join(moved)} needs the App API key again: paste it from "
            f"Customer.io ({KEYS_PAGE}), as the stored key is sent only to the host it was "
            "checked with.",
            "app_api_key",
        )


def _with_host(source: SourceConfig, changes: SourceChanges) -> SourceConfig:
    """The source with its new region, key or API base URL, the key checked against it."""
    region = _region(changes.region) if changes.region is not None else source.region
    api_base_url = (
        source.api_base_url if changes.api_base_url is KEEP
        else _api_base_url(region, changes.api_base_url)
    )
    if changes.app_api_key is None:
        _refuse_new_host(source, region, api_base_url)
    checked = candidate(region, changes.app_api_key or source.app_api_key.reveal(), api_base_url)
    updated = replace(
        source, region=checked.region, app_api_key=checked.app_api_key,
        api_base_url=checked.api_base_url,
    )
    check_key(updated)
    return updated


def _with_history(source: SourceConfig, changes: SourceChanges) -> SourceConfig:
    history = source.settings.history_days if changes.history_days is KEEP else changes.history_days
    lookback = (source.settings.lookback_days if changes.lookback_days is KEEP
                else changes.lookback_days)
    # Only what changes is checked: a stored value keeps working as it did.
    _history(None if changes.history_days is KEEP else history,
             None if changes.lookback_days is KEEP else lookback)
    settings = replace(source.settings, history_days=history, lookback_days=lookback)
    return source if settings == source.settings else replace(source, settings=settings)


def update_source(store: StateStore, name: str, changes: SourceChanges) -> SourceConfig:
    source = known_source(store, name)
    updated = source
    if (changes.region is not None or changes.app_api_key is not None
            or changes.api_base_url is not KEEP):
        updated = _with_host(source, changes)
    tables = _tables(changes.tables) if changes.tables is not None else None
    try:
        if changes.frequency_seconds is not None:
            updated = frequencies.with_source_frequency(
                updated, _frequency(changes.frequency_seconds)
            )
        for table, seconds in (changes.table_frequencies or {}).items():
            updated = frequencies.with_table_frequency(updated, table, seconds)
    except OpsError:
        raise
    except StateError as exc:
        raise OpsError(str(exc), "table_frequencies") from None
    updated = _with_history(updated, changes)
    if changes.paused is not None and changes.paused != updated.settings.paused:
        paused_at = time.time() if changes.paused else None
        updated = replace(updated, settings=replace(updated.settings, paused_at=paused_at))
    if changes.draft is not None:
        draft = True if changes.draft else None
        updated = replace(updated, settings=replace(updated.settings, draft=draft))
    if updated != source:
        store.update_source(updated)
    if tables is not None and tables != source.tables:
        # Saves them and subscribes the webhook (if any) to exactly their events.
        webhook_links.update_tables(store, name, tables)
    return store.get_source(name)


def remove_source(store: StateStore, name: str) -> str | None:
    """Unlink the source (its tables stay in the warehouse); a warning if Customer.io kept the
    webhook."""
    known_source(store, name)
    return webhook_links.remove_source(store, name)
