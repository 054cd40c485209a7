"""SQL values as JSON values: one conversion for the CLI's --format json and the JSON API."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any


def to_json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and value[:1] in "[{":
        # DuckDB hands JSON columns back as text: emit them as JSON, not as a quoted string.
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return value
