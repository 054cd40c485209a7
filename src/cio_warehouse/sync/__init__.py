"""Sync of the App API tables into the warehouse with dlt: full refresh, and message history."""

from cio_warehouse.sync.full_refresh import TableOutcome, TableProgress, sync_tables

__all__ = ["TableOutcome", "TableProgress", "sync_tables"]
