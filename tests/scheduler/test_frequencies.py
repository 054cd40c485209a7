"""Sync frequencies: the web app's choices, their validation, and per-table overrides."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cio_warehouse.frequencies import (
    FREQUENCIES,
    frequency_label,
    next_run_at,
    scheduled_tables,
    set_source_frequency,
    set_table_frequency,
    source_frequency,
    table_frequencies,
    table_frequency,
    validate_frequency,
    with_table_frequency,
)
from cio_warehouse.secret import Secret
from cio_warehouse.state import RunRecord, SourceConfig, SourceSettings, StateError, StateStore
from cio_warehouse.state.store import DEFAULT_FREQUENCY_SECONDS


def _source(**changes: object) -> SourceConfig:
    base = SourceConfig(
        name="acme", region="us", app_api_key=Secret("k"),
        tables=("campaigns", "segments", "email_events"),
    )
    return replace(base, **changes)


def test_the_choices_the_web_app_offers() -> None:
    assert FREQUENCIES == {
        "5 minutes": 300, "30 minutes": 1800, "1 hour": 3600, "6 hours": 21600,
        "12 hours": 43200, "24 hours": 86400, "7 days": 604800, "30 days": 2592000,
    }
    assert frequency_label(DEFAULT_FREQUENCY_SECONDS) == "6 hours"
    assert frequency_label(42) == "42 seconds"


@pytest.mark.parametrize("value", [300, "300", "5 minutes", " 30 days "])
def test_validate_accepts_a_choice_as_seconds_or_label(value: object) -> None:
    assert validate_frequency(value) in FREQUENCIES.values()


@pytest.mark.parametrize("value", [60, 0, -300, True, 300.0, "sometimes", None, "5 min"])
def test_validate_refuses_anything_else_and_lists_the_choices(value: object) -> None:
    with pytest.raises(StateError, match=r"choose one of: 5 minutes \(300s\), 30 minutes"):
        validate_frequency(value)


def test_table_override_wins_and_clearing_it_follows_the_source() -> None:
    source = with_table_frequency(_source(frequency_seconds=3600), "segments", "5 minutes")
    assert source.settings.to_json()["table_frequencies"] == {"segments": 300}
    assert table_frequency(source, "segments") == 300
    assert table_frequency(source, "campaigns") == 3600
    assert table_frequencies(source) == {"campaigns": 3600, "segments": 300}
    cleared = with_table_frequency(source, "segments", None)
    assert table_frequencies(cleared) == {"campaigns": 3600, "segments": 3600}


def test_webhook_tables_have_no_frequency() -> None:
    assert scheduled_tables(_source()) == ["campaigns", "segments"]
    with pytest.raises(StateError, match="only these tables sync on a schedule: broadcasts"):
        with_table_frequency(_source(), "email_events", 300)
    with pytest.raises(StateError, match="no sync frequency"):
        with_table_frequency(_source(), "nope", 300)


def test_unusable_stored_values_fall_back_instead_of_crashing_the_scheduler() -> None:
    source = _source(
        frequency_seconds=0,
        settings=SourceSettings.from_json(
            {"table_frequencies": {"segments": "soon", "campaigns": -1}}
        ),
    )
    assert table_frequencies(source) == {
        "campaigns": DEFAULT_FREQUENCY_SECONDS, "segments": DEFAULT_FREQUENCY_SECONDS,
    }
    listed = SourceSettings.from_json({"table_frequencies": [1]})
    assert source_frequency(_source(settings=listed)) == 21600


def test_setters_save_to_the_store(store: StateStore) -> None:
    store.add_source(_source(settings=SourceSettings(max_rps=5)))
    set_source_frequency(store, "acme", "12 hours")
    set_table_frequency(store, "acme", "campaigns", 1800)
    saved = store.get_source("acme")
    assert saved.frequency_seconds == 43200
    assert saved.settings.to_json() == {"max_rps": 5, "table_frequencies": {"campaigns": 1800}}
    with pytest.raises(StateError, match="Unsupported sync frequency 7"):
        set_source_frequency(store, "acme", 7)
    assert store.get_source("acme").frequency_seconds == 43200


def test_next_run_follows_the_last_start_of_any_status() -> None:
    def run(status: str) -> RunRecord:
        return RunRecord(1, "acme", "segments", 1000.0, 1010.0, status, None, None, None, None)

    assert next_run_at(None, 300, now=5000.0) == 5000.0  # never synced: due at once
    for status in ("succeeded", "failed", "interrupted", "running"):
        assert next_run_at(run(status), 300, now=5000.0) == 1300.0
