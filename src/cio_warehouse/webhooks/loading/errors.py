"""How a failed event load is classified and described: the warehouse unreachable, or a batch."""

from __future__ import annotations

from dlt.destinations.exceptions import DestinationConnectionError, LoadClientNotConnected

from cio_warehouse.exception_chain import chain, one_line, root_cause


class LoadError(Exception):
    """The warehouse did not take a batch; its events stay in the inbox for the next attempt."""


def raise_if_unreachable(exc: Exception) -> None:
    if unreachable(exc):
        raise LoadError(describe(exc)) from exc


def unreachable(exc: BaseException) -> bool:
    """The warehouse could not be reached at all: no point in splitting the batch."""
    for cause in chain(exc):
        if isinstance(cause, DestinationConnectionError | LoadClientNotConnected | ConnectionError
                      | TimeoutError):
            return True
        if type(cause).__name__ == "IOException":  # duckdb: file locked or not writable
            return True
    return False


def describe(exc: BaseException) -> str:
    """The root cause in one line; dlt's step errors name only the step on their first line."""
    root = root_cause(exc)
    return f"{type(root).__name__}: {one_line(root)}"[:2000]
