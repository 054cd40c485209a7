"""The event loader's parts: the batch, bad-row isolation, the pipelines (direct appends into
DuckDB and PostgreSQL, dlt for the rest), the status."""
