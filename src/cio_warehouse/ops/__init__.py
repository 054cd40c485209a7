"""The use cases the CLI and the web app share, as functions that return dataclasses."""
