"""Full-refresh sync of the App API tables into the warehouse, with dlt."""

from cio_warehouse.sync.full_refresh import TableOutcome, TableProgress, sync_tables

__all__ = ["TableOutcome", "TableProgress", "sync_tables"]
