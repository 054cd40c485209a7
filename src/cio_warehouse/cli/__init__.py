"""The `cio-warehouse` command line."""

from cio_warehouse.cli.app import app, main

__all__ = ["app", "main"]
