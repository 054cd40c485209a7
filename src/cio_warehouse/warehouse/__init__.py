"""The warehouse: where dlt loads (DuckDB by default) and the read-only query path."""
