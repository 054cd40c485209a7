"""`python -m cio_warehouse` runs the CLI."""

from cio_warehouse.cli import main

main()
