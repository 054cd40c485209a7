"""The log filters this product installs on libraries' loggers (configure.py installs them)."""

from __future__ import annotations

import logging

from cio_warehouse import catalog

# The tables loaded from Arrow with JSON columns: the webhook event tables, the dead letters, and
# message history (created empty from Arrow, sync/source_tables.py).
_LOADER_TABLES = frozenset({
    *(t.name for t in catalog.EVENT_TABLES), catalog.DEAD_LETTERS.name, catalog.MESSAGES.name,
})


class ArrowHintFilter(logging.Filter):
    """dlt warns that our `json` hints differ from the Arrow string columns that carry the JSON.

    That difference is the intent (Arrow has no JSON type dlt reads; the hint makes the column
    JSON in the warehouse), so the warning is dropped for those tables only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "when merging arrow schema with dlt schema" not in message:
            return True
        return not any(f"In resource: {name}," in message for name in _LOADER_TABLES)


def install() -> None:
    """Idempotent: each filter is added to its logger once."""
    dlt_log = logging.getLogger("dlt")
    if not any(isinstance(existing, ArrowHintFilter) for existing in dlt_log.filters):
        dlt_log.addFilter(ArrowHintFilter())
