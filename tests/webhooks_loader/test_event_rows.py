"""A delivery becomes one typed row; nothing in it is lost, nothing in it breaks the row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest

from cio_warehouse import catalog
from cio_warehouse.webhooks.event_rows import (
    RowError,
    as_datetime,
    event_row,
    payload_row,
    to_arrow,
)

from .builders import example


def row_of(payload: object, received_at: float = 1_700_000_000.25) -> dict[str, object]:
    body = json.dumps(payload).encode()
    return event_row(body, event_id="E1", received_at=received_at).values


def test_the_published_email_example_fills_its_columns() -> None:
    values = row_of(example("email_sent"))
    assert values["event_id"] == "E1"  # the inbox's id, the one it deduplicated on
    assert values["object_type"] == "email" and values["metric"] == "sent"
    assert as_datetime(values["timestamp"]) == datetime(2021, 2, 11, 17, 4, 49, tzinfo=UTC)  # type: ignore[arg-type]
    assert as_datetime(values["received_at"]) == datetime.fromtimestamp(1_700_000_000.25, UTC)  # type: ignore[arg-type]
    assert values["action_id"] == 42 and values["broadcast_id"] == 9
    assert values["delivery_id"] == "RPILAgUBcRhIBqSfeiIwdIYJKxTY"
    assert values["customer_id"] == "0200000001"
    assert values["identifier_id"] == "42"
    assert values["identifier_email"] == "test@example.com"
    assert values["identifier_cio_id"] == "d9c106000001"
    assert values["recipient"] == "test@example.com"
    assert json.loads(values["data"]) == example("email_sent")["data"]  # type: ignore[arg-type]
    assert "campaign_id" not in values and "extra" not in values


def test_customer_example_is_a_customer_event_with_email_address() -> None:
    row = event_row(json.dumps(example("customer_subscribed")).encode(), event_id="E",
                    received_at=0.0)
    assert row.table == "customer_events"
    assert row.values["email_address"] == "test@example.com"


def test_every_data_column_of_the_catalog_is_filled_from_its_path() -> None:
    data: dict[str, object] = {}
    expected: dict[str, object] = {}
    samples = {"text": "v", "bigint": 12, "bool": True}
    for column in catalog.EVENT_COLUMNS:
        if column.path[:1] != ("data",) or len(column.path) < 2:
            continue
        value = samples[column.data_type]
        node = data
        for key in column.path[1:-1]:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[column.path[-1]] = value
        expected[column.name] = value
    values = row_of({"object_type": "email", "metric": "x", "timestamp": 1, "data": data})
    for name, value in expected.items():
        assert values[name] == value, name
    assert values["replied_to"] == "v"  # sms/whatsapp replied: `to`


@pytest.mark.parametrize(
    ("column", "value", "typed", "variant"),
    [
        ("campaign_id", 5, 5, None),
        ("campaign_id", "5", 5, None),  # an integer sent as a string: same number, kept
        ("campaign_id", 5.0, 5, None),
        ("campaign_id", "05", None, "05"),  # not exactly an integer: kept as text
        ("campaign_id", "abc", None, "abc"),
        ("campaign_id", 2**64, None, str(2**64)),  # beyond bigint: exact text
        ("campaign_id", True, None, "true"),
        ("campaign_id", 1.5, None, "1.5"),
        ("link_id", [1, 2], None, "[1,2]"),
        ("customer_id", 42, "42", None),  # text columns take any scalar as its JSON text
        ("customer_id", {"a": 1}, '{"a":1}', None),
        ("machine", "yes", None, "yes"),
        ("machine", False, False, None),
    ],
)
def test_a_value_of_another_type_goes_to_a_variant_column(
    column: str, value: object, typed: object, variant: str | None
) -> None:
    row = event_row(
        json.dumps({"object_type": "email", "data": {column: value}}).encode(),
        event_id="E", received_at=0.0,
    )
    assert row.values.get(column) == typed
    assert row.values.get(f"{column}__v_text") == variant
    assert (f"{column}__v_text" in row.variants) == (variant is not None)
    assert json.loads(row.values["data"])[column] == value  # the JSON keeps the original


@pytest.mark.parametrize(
    ("timestamp", "expected", "variant"),
    [
        (1613063089, datetime(2021, 2, 11, 17, 4, 49, tzinfo=UTC), None),
        ("1613063089", datetime(2021, 2, 11, 17, 4, 49, tzinfo=UTC), None),
        (1613063089.5, datetime(2021, 2, 11, 17, 4, 49, 500000, tzinfo=UTC), None),
        ("yesterday", None, "yesterday"),
        (10**20, None, str(10**20)),
    ],
)
def test_timestamp_is_unix_seconds(timestamp: object, expected: object, variant: object) -> None:
    values = row_of({"object_type": "email", "timestamp": timestamp})
    got = values.get("timestamp")
    assert (None if got is None else as_datetime(got)) == expected  # type: ignore[arg-type]
    assert values.get("timestamp__v_text") == variant


def test_unknown_fields_are_kept_not_fatal() -> None:
    values = row_of({
        "event_id": "ignored", "object_type": "email", "metric": "sent", "timestamp": 1,
        "data": {"brand_new": {"deep": [1, {"x": None}]}, "identifiers": "not an object"},
        "new_top_level": [1, 2],
    })
    assert json.loads(values["data"])["brand_new"] == {"deep": [1, {"x": None}]}  # type: ignore[arg-type]
    assert json.loads(values["extra"]) == {"new_top_level": [1, 2]}  # type: ignore[arg-type]
    assert "identifier_id" not in values


def test_data_that_is_not_an_object_is_kept_as_json() -> None:
    values = row_of({"object_type": "email", "data": [1, "two"]})
    assert json.loads(values["data"]) == [1, "two"]  # type: ignore[arg-type]


def test_big_integers_in_data_stay_exact() -> None:
    """orjson reads integers past 64 bits as floats: such a body is read exactly instead."""
    body = b'{"object_type":"email","data":{"n":123456789012345678901234567890}}'
    assert orjson.loads(body)["data"]["n"] != 123456789012345678901234567890
    values = event_row(body, event_id="E", received_at=0).values
    assert values["data"] == '{"n":123456789012345678901234567890}'


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"null"])
def test_a_body_that_is_not_a_json_object_is_a_row_error(body: bytes) -> None:
    with pytest.raises(RowError):
        event_row(body, event_id="E", received_at=0.0)


def test_rows_become_an_arrow_table_of_the_catalog_layout() -> None:
    rows = [payload_row(example(n), event_id=n, received_at=1.0)
            for n in ("email_sent", "sms_sent", "customer_subscribed")]
    rows.append(payload_row({"data": {"campaign_id": "x"}}, event_id="v", received_at=1.0))
    table = to_arrow([r.values for r in rows], variants=["campaign_id__v_text"])
    assert table.column_names == [c.name for c in catalog.EVENT_COLUMNS] + ["campaign_id__v_text"]
    assert table.num_rows == 4
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert table.column("campaign_id__v_text").to_pylist() == [None, None, None, "x"]
