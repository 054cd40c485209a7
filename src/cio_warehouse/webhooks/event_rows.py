"""One reporting-webhook delivery -> one typed event row, and rows -> an Arrow table for dlt."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from cio_warehouse import catalog
from cio_warehouse.catalog import Column
from cio_warehouse.webhooks.router import route

# dlt's name for a value that does not fit its column's type (dlt's own normalizer does the same).
VARIANT_SUFFIX = "__v_text"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]+")
# datetime covers years 1..9999; a timestamp outside is kept as text in its variant column.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799

_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "json": pa.string(),  # dlt's json hint on the column makes it JSON in the warehouse
    "bigint": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


class RowError(ValueError):
    """The body cannot become an event row; the message is the dead letter's reason."""


class EventRow(NamedTuple):
    table: str
    values: dict[str, Any]  # column -> value (None left out); variants as `<column>__v_text`
    variants: frozenset[str]  # the variant columns in `values`


# A converter returns the value typed for its column, or None when the value does not fit.
_Convert = Callable[[Any], Any]


@dataclass
class _Node:
    """A key of the delivery: the column it fills and/or the keys below it."""

    # (column, its variant column, converter) when the key fills a column.
    target: tuple[str, str, _Convert] | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def _trie(columns: Sequence[Column]) -> _Node:
    root = _Node()
    for column in columns:
        if not column.path:
            continue  # filled from the inbox, not from the delivery
        node = root
        for key in column.path:
            node = node.children.setdefault(key, _Node())
        node.target = (column.name, column.name + VARIANT_SUFFIX, CONVERTERS[column.data_type])
    return root


def parse_body(body: bytes) -> Any:
    """The delivery's JSON, exactly as sent.

    orjson first (fast). It reads an integer beyond 64 bits as a float, so a body with a run of
    20 digits is read with the standard library instead, which keeps such integers exact; so is
    a body orjson refuses (NaN, a lone surrogate): keep what can be kept, and let a warehouse
    that refuses it isolate the event later.
    """
    if _LONG_DIGIT_RUN in body.translate(_DIGITS_TO_ZERO):
        return _lenient(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _lenient(body)


_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 20  # 2**64 has 20 digits


def _lenient(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RowError(f"not valid JSON: {exc}") from None


def event_row(body: bytes, *, event_id: str, received_at: float) -> EventRow:
    """The row for one stored delivery; RowError only when the body is not a JSON object."""
    payload = parse_body(body)
    if not isinstance(payload, dict):
        raise RowError(f"not a JSON object but {type(payload).__name__}")
    return payload_row(payload, event_id=event_id, received_at=received_at)


def payload_row(payload: Mapping[str, Any], *, event_id: str, received_at: float) -> EventRow:
    """Route and type a parsed delivery; never fails on unknown or mistyped fields."""
    # The inbox's event_id is the one it deduplicated on (the receiver took it from this body).
    values: dict[str, Any] = {"event_id": event_id, "received_at": timestamp_us(received_at)}
    variants: list[str] = []
    extra = _fill(_ROOT.children, payload, values, variants)
    extra.pop("event_id", None)
    if extra:
        values["extra"] = _json_text(extra)
    table = route(payload.get("object_type"), payload.get("metric"), payload.get("data"))
    return EventRow(table, values, frozenset(variants) if variants else _NO_VARIANTS)


_NO_VARIANTS: frozenset[str] = frozenset()


def _fill(
    nodes: Mapping[str, _Node],
    obj: Mapping[str, Any],
    values: dict[str, Any],
    variants: list[str],
) -> dict[str, Any]:
    """Fill the columns found in `obj` (a loop, not a call, per key: this is the hot path)."""
    unknown: dict[str, Any] = {}
    for key, value in obj.items():
        node = nodes.get(key)
        if node is None:
            unknown[key] = value
            continue
        if value is None:
            continue
        if node.target is not None:
            column, variant, convert = node.target
            if convert is _text and type(value) is str:
                values[column] = value
            elif (typed := convert(value)) is not None:
                values[column] = typed
            else:
                # Not the declared type: keep it as text beside the column (a dlt variant column).
                values[variant] = value if type(value) is str else _json_text(value)
                variants.append(variant)
        if node.children and type(value) is dict:
            _fill(node.children, value, values, variants)
    return unknown


def _text(value: Any) -> str:
    return value if type(value) is str else _json_text(value)


def _bool(value: Any) -> bool | None:
    return value if type(value) is bool else None


def _timestamp(value: Any) -> int | None:
    seconds = _as_seconds(value)
    return None if seconds is None else timestamp_us(seconds)


def _as_int(value: Any) -> int | None:
    """An integer id; a string or float that is exactly an integer counts (nothing is lost)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value) and str(int(value)) == value:
        number = int(value)
    else:
        return None
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _bigint(value: Any) -> int | None:
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return value
    return _as_int(value)


def _as_seconds(value: Any) -> float | None:
    """Unix seconds (webhook_timestamp: `type: integer, format: unix timestamp`)."""
    if isinstance(value, bool):
        return None
    seconds: float
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value):
        seconds = int(value)
    else:
        return None
    if not math.isfinite(seconds) or not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return None
    return seconds


def timestamp_us(seconds: float) -> int:
    """Microseconds since the epoch, the unit of the Arrow timestamp columns."""
    if isinstance(seconds, int):
        return seconds * 1_000_000
    return round(seconds * 1_000_000)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits, NaN: the standard library writes them as they came.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Per catalog data type: the value as its Arrow column takes it, or None when it does not fit.
CONVERTERS: dict[str, _Convert] = {
    "text": _text,
    "json": _json_text,
    "bigint": _bigint,
    "bool": _bool,
    "timestamp": _timestamp,
}
_ROOT = _trie(catalog.EVENT_COLUMNS)


def as_datetime(us: int) -> datetime:
    """A row's timestamp value (microseconds) as an aware datetime, for readers of rows."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)


# -- rows -> Arrow -------------------------------------------------------------------------------


def arrow_schema(columns: Sequence[Column], primary_key: str) -> pa.Schema:
    return pa.schema(
        pa.field(c.name, _ARROW_TYPES[c.data_type], nullable=c.name != primary_key)
        for c in columns
    )


EVENT_SCHEMA = arrow_schema(catalog.EVENT_COLUMNS, "event_id")


def to_arrow(
    rows: Sequence[Mapping[str, Any]],
    schema: pa.Schema = EVENT_SCHEMA,
    variants: Sequence[str] = (),
) -> pa.Table:
    """All rows in one C++ conversion (a struct array): dlt then writes them with no per-row work.

    Timestamp values are microseconds since the epoch (int64), then viewed as UTC timestamps.
    """
    fields = [*schema, *(pa.field(name, pa.string()) for name in variants)]
    raw = [pa.field(f.name, pa.int64()) if pa.types.is_timestamp(f.type) else f for f in fields]
    batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=pa.struct(raw)))
    columns = [
        column.cast(f.type) if pa.types.is_timestamp(f.type) else column
        for column, f in zip(batch.columns, fields, strict=True)
    ]
    return pa.Table.from_batches([pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))])
