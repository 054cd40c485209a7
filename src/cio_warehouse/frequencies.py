"""Sync frequencies: the choices, per-table overrides, and when a table is next due."""

from __future__ import annotations

from dataclasses import replace

from cio_warehouse import catalog
from cio_warehouse.state import RunRecord, SourceConfig, StateError, StateStore
from cio_warehouse.state.store import DEFAULT_FREQUENCY_SECONDS

# The choices the web app offers, shortest first.
FREQUENCIES: dict[str, int] = {
    "5 minutes": 5 * 60,
    "30 minutes": 30 * 60,
    "1 hour": 3600,
    "6 hours": 6 * 3600,
    "12 hours": 12 * 3600,
    "24 hours": 24 * 3600,
    "7 days": 7 * 86400,
    "30 days": 30 * 86400,
}
assert DEFAULT_FREQUENCY_SECONDS in FREQUENCIES.values()



def validate_frequency(value: object) -> int:
    """The seconds of one of FREQUENCIES, given as seconds (int or digits) or as its label."""
    seconds: object = value
    if isinstance(value, str):
        text = value.strip()
        seconds = FREQUENCIES.get(text, int(text) if text.isdigit() else None)
    checked = _positive(seconds)
    if checked is not None and checked in FREQUENCIES.values():
        return checked
    raise StateError(
        f"Unsupported sync frequency {value!r}; choose one of: "
        + ", ".join(f"{label} ({seconds}s)" for label, seconds in FREQUENCIES.items())
        + "."
    )


def frequency_label(seconds: int) -> str:
    """'6 hours' for 21600; a value outside the choices reads as seconds."""
    for label, value in FREQUENCIES.items():
        if value == seconds:
            return label
    return f"{seconds} seconds"


def scheduled_tables(source: SourceConfig) -> list[str]:
    """The source's selected App API tables: webhook tables fill in realtime, never here."""
    return [
        name for name in source.tables if name in catalog.BY_NAME and catalog.BY_NAME[name].synced
    ]


def source_frequency(source: SourceConfig) -> int:
    """The source's frequency in seconds (the default if the stored value is unusable)."""
    return _positive(source.frequency_seconds) or DEFAULT_FREQUENCY_SECONDS


def table_overrides(source: SourceConfig) -> dict[str, int]:
    """The per-table frequencies set on the source: {table: seconds}."""
    return dict(source.settings.table_frequencies)


def table_frequency(source: SourceConfig, table: str) -> int:
    """A table's own frequency if set, else its source's."""
    return table_overrides(source).get(table) or source_frequency(source)


def table_frequencies(source: SourceConfig) -> dict[str, int]:
    """The frequency of every scheduled table of the source."""
    return {t: table_frequency(source, t) for t in scheduled_tables(source)}


def with_source_frequency(source: SourceConfig, seconds: object) -> SourceConfig:
    return replace(source, frequency_seconds=validate_frequency(seconds))


def with_table_frequency(source: SourceConfig, table: str, seconds: object | None) -> SourceConfig:
    """The source with `table`'s own frequency set, or cleared (None: follow the source)."""
    entry = catalog.BY_NAME.get(table)
    if entry is None or not entry.synced:
        raise StateError(
            f"{table!r} has no sync frequency: only these tables sync on a schedule: "
            + ", ".join(t.name for t in catalog.SYNCED_TABLES)
            + "."
        )
    overrides = table_overrides(source)
    if seconds is None:
        overrides.pop(table, None)
    else:
        overrides[table] = validate_frequency(seconds)
    return replace(source, settings=source.settings.with_table_frequencies(overrides))


def set_source_frequency(store: StateStore, name: str, seconds: object) -> SourceConfig:
    source = with_source_frequency(store.get_source(name), seconds)
    store.update_source(source)
    return source


def set_table_frequency(
    store: StateStore, name: str, table: str, seconds: object | None
) -> SourceConfig:
    source = with_table_frequency(store.get_source(name), table, seconds)
    store.update_source(source)
    return source


def next_run_at(last: RunRecord | None, interval: int, now: float) -> float:
    """When a table is next due: its last start (any status) plus its interval; never run: now."""
    return now if last is None else last.started_at + interval


def due_tables(source: SourceConfig, last: dict[str, RunRecord], now: float) -> list[str]:
    """The source's scheduled tables whose next run is now or past, given their last runs."""
    return [
        table
        for table, interval in table_frequencies(source).items()
        if next_run_at(last.get(table), interval, now) <= now
        # Started outside this scheduler's jobs (the demo's own sync) and still running, or
        # hung past its interval: a second run beside it would break "one run at a time".
        and not (table in last and last[table].status == "running")
    ]


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
