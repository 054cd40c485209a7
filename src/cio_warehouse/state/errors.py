"""Errors of the state store, each a sentence the user can act on."""


class StateError(Exception):
    """The data dir or its state is missing, unreadable or inconsistent."""
