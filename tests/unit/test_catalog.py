"""The catalog is the single source of truth: its rows must be complete and consistent."""

import json
from pathlib import Path

from cio_warehouse import catalog
from cio_warehouse.catalog import Paging, SyncMethod

# Customer.io's published App API examples, copied into the repository.
EXAMPLES = Path(__file__).resolve().parents[1] / "sandbox" / "cio_examples"


def test_eighteen_tables_with_unique_names() -> None:
    assert len(catalog.TABLES) == 18
    assert len(catalog.BY_NAME) == 18
    assert len(catalog.API_TABLES) == 10
    assert len(catalog.WEBHOOK_TABLES) == 7
    assert [t.name for t in catalog.SYNCED_TABLES] == [
        *(t.name for t in catalog.API_TABLES), "messages"]


def test_message_history_is_chosen_not_default() -> None:
    assert catalog.MESSAGES.sync_method is SyncMethod.INCREMENTAL
    assert "messages" not in catalog.DEFAULT_TABLES
    assert len(catalog.DEFAULT_TABLES) == 17


def test_history_has_a_typed_column_per_metric_the_webhook_knows() -> None:
    """Every metric an event table subscribes to is a `<metric>_at` column of messages."""
    metrics = {
        e.removeprefix(f"{t.object_types[0]}_")
        for t in catalog.WEBHOOK_TABLES if t.name != "customer_events" for e in t.events
    }
    assert {"sent", "delivered", "opened", "clicked", "converted", "bounced"} <= metrics
    assert {f"{m}_at" for m in metrics} <= set(catalog.MESSAGES.timestamp_fields)
    assert set(catalog.MESSAGES.json_fields) == {"customer_identifiers", "metrics", "extra"}


def test_api_tables_name_their_endpoint_and_list_key() -> None:
    for table in catalog.API_TABLES:
        assert table.path and table.path.startswith("/v1/"), table.name
        assert table.list_key, table.name
        assert table.description.endswith("."), table.name


def test_cursor_paging_only_where_customerio_pages() -> None:
    cursor = {t.name for t in catalog.API_TABLES if t.paging is Paging.CURSOR}
    assert cursor == {"newsletters", "sender_identities"}


LIVE_ONLY = {"first_started", "scheduled_at", "scheduled_start", "scheduled_stop"}


def test_list_keys_match_the_published_examples() -> None:
    """customerio-api.md: object_types lists under `types`, topics under `topics`, ..."""
    for table in catalog.API_TABLES:
        example = json.loads((EXAMPLES / f"{table.name}_list.json").read_text())
        assert table.list_key in example, table.name
        rows = example[table.list_key]
        assert table.primary_key in rows[0], table.name
        for field in table.timestamp_fields:
            # first_started and the scheduled times are not in the published examples; the
            # scheduled ones come from live answers (docs/customerio-behaviour.md).
            assert field in rows[0] or field in LIVE_ONLY, (table.name, field)


def test_webhook_tables_subscribe_to_distinct_events() -> None:
    events = [e for t in catalog.WEBHOOK_TABLES for e in t.events]
    assert len(events) == len(set(events))
    for table in catalog.WEBHOOK_TABLES:
        assert table.sync_method is SyncMethod.WEBHOOK
        assert all(e.startswith(f"{table.object_types[0]}_") for e in table.events)


def test_unknown_table_lists_the_known_ones() -> None:
    try:
        catalog.get("nope")
    except KeyError as exc:
        assert "campaigns" in str(exc)
    else:
        raise AssertionError("expected KeyError")
