"""/v1/messages pages as Arrow tables typed by the catalog: nothing dropped, nothing guessed.

Arrow, not dicts, because a backfill is millions of rows: dlt writes an Arrow table as it is,
where dict rows cost it a normalize step per row (and memory while they wait). The catalog fixes
every column's type, so a field Customer.io adds, or a value of another type than documented,
lands in the `extra` JSON column instead of changing the table.
"""

from __future__ import annotations

from typing import Any

import pyarrow

from cio_warehouse import catalog
from cio_warehouse.customerio.errors import DataError
from cio_warehouse.webhooks import event_rows

SCHEMA = event_rows.arrow_schema(catalog.MESSAGE_COLUMNS, catalog.MESSAGES.primary_key)
# The columns a row's own fields fill; `<metric>_at` and `extra` are derived here.
_FIELDS = {
    c.name: event_rows.CONVERTERS[c.data_type]
    for c in catalog.MESSAGE_COLUMNS
    if c.name != "extra" and not c.name.endswith("_at")
}
_METRICS = tuple((metric, f"{metric}_at") for metric in catalog.MESSAGE_METRICS)
_timestamp = event_rows.CONVERTERS["timestamp"]


def to_arrow(page: list[dict[str, Any]], path: str) -> pyarrow.Table:
    return event_rows.to_arrow([_row(raw, path) for raw in page], SCHEMA)


def _row(raw: dict[str, Any], path: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        convert = _FIELDS.get(key)
        if convert is None:
            extra[key] = value
            continue
        if value is None or _never(key, value):
            continue
        converted = convert(value)
        if converted is None:
            extra[key] = value  # kept as sent, beside a NULL column
        row[key] = converted
    if not isinstance(row.get("id"), str) or not row["id"]:
        raise DataError(
            f"GET {path} listed a message without an id ({str(raw)[:120]}): it cannot be merged; "
            "try again later, and report it if it persists.",
            path=path,
        )
    metrics = raw.get("metrics")
    if isinstance(metrics, dict):
        for metric, column in _METRICS:
            value = metrics.get(metric)
            if value is not None and not _never(column, value):
                row[column] = _timestamp(value)
    if extra:
        row["extra"] = event_rows.CONVERTERS["json"](extra)
    return row


_TIMESTAMPS = frozenset(catalog.MESSAGES.timestamp_fields)


def _never(column: str, value: object) -> bool:
    """A 0 in a timestamp field is Customer.io's "never": NULL (docs/customerio-behaviour.md)."""
    return column in _TIMESTAMPS and value == 0 and not isinstance(value, bool)
