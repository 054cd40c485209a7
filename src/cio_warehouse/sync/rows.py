"""What Customer.io sends that a column must not take as it is."""

from __future__ import annotations

from typing import Any


def never_as_null(
    rows: list[dict[str, Any]], fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """A 0 in a timestamp field is Customer.io's "never" (an unscheduled newsletter, a campaign
    not yet started): NULL, not 1970-01-01 (docs/customerio-behaviour.md)."""
    for row in rows:
        for name in fields:
            if row.get(name) == 0 and not isinstance(row.get(name), bool):
                row[name] = None
    return rows
