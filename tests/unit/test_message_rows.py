"""/v1/messages rows as Arrow: typed by the catalog, a 0 time is NULL, nothing is dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cio_warehouse.customerio.errors import DataError
from cio_warehouse.sync.message_rows import SCHEMA, to_arrow


def one(row: dict[str, object]) -> dict[str, object]:
    table = to_arrow([row], "/v1/messages")
    assert table.schema == SCHEMA
    [converted] = table.to_pylist()
    return converted


def test_metrics_become_typed_columns_and_stay_in_metrics() -> None:
    row = one({"id": "d1", "created": 1_700_000_000, "type": "email", "campaign_id": 7,
               "metrics": {"sent": 1_700_000_001, "opened": 1_700_000_100, "glanced": 5}})
    assert row["created"] == datetime.fromtimestamp(1_700_000_000, UTC)
    assert row["sent_at"] == datetime.fromtimestamp(1_700_000_001, UTC)
    assert row["opened_at"] == datetime.fromtimestamp(1_700_000_100, UTC)
    assert row["clicked_at"] is None and row["campaign_id"] == 7
    # A metric Customer.io adds later has no column of its own: it stays in `metrics`.
    assert json.loads(str(row["metrics"]))["glanced"] == 5 and row["extra"] is None


def test_a_zero_time_is_never_not_1970() -> None:
    row = one({"id": "d1", "created": 0, "metrics": {"sent": 0}})
    assert row["created"] is None and row["sent_at"] is None and row["extra"] is None


def test_new_fields_and_values_of_another_type_land_in_extra() -> None:
    row = one({"id": "d1", "campaign_id": "not a number", "forgotten": "yes",
               "newsletter_id": "42", "brand_new": {"a": 1}})
    assert row["campaign_id"] is None and row["forgotten"] is None
    assert row["newsletter_id"] == 42  # an integer written as text loses nothing
    assert json.loads(str(row["extra"])) == {
        "campaign_id": "not a number", "forgotten": "yes", "brand_new": {"a": 1}}


def test_a_message_without_an_id_fails_the_table() -> None:
    with pytest.raises(DataError, match="without an id"):
        to_arrow([{"created": 1}], "/v1/messages")
