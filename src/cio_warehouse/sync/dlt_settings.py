"""dlt's process-wide settings for this product: no telemetry, atomic replace, quiet logs."""

from __future__ import annotations

import os

_SETTINGS = {
    # No usage data leaves the machine.
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
    # Load into <dataset>_staging, then swap in one transaction: a failed or killed sync leaves the
    # previous rows whole (dlt's `insert-from-staging` replace strategy).
    "DESTINATION__REPLACE_STRATEGY": "insert-from-staging",
    # Our state lives in the data dir; never pull pipeline state back from the warehouse.
    "RESTORE_FROM_DESTINATION": "false",
}


def apply() -> None:
    """Call before the first pipeline is made; settings the user put in the environment win."""
    for key, value in _SETTINGS.items():
        os.environ.setdefault(key, value)
