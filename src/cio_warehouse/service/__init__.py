"""`cio-warehouse serve`: the process that owns the warehouse (syncs, loader, queries, API) and
the receiver process beside it."""
