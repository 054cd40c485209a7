"""`sync` as a user types it: a table it cannot sync is refused before any progress table is
drawn, and the summary gives one timing."""

from __future__ import annotations

import re

import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import StateStore
from tests.helpers import add_source, run_cli


@pytest.mark.parametrize(
    ("table", "said"),
    [("nosuch", "Unknown table(s) nosuch; choose from: broadcasts, campaigns,"),
     ("email_events", "email_events fill from the reporting webhook in realtime and cannot be "
                      "synced; sync one of: broadcasts,")],
)
def test_a_table_that_cannot_sync_is_refused_first(store: StateStore, sandbox: SandboxServer,
                                                   api_key: str, table: str, said: str) -> None:
    add_source(store, sandbox, api_key, tables=("campaigns",))
    result = run_cli(store.data_dir, "sync", "acme", "--table", table)
    assert result.code == 1, result.output
    assert result.stdout == ""  # no progress table, not even an empty one
    assert result.stderr.startswith(f"Error: {said}"), result.stderr


def test_the_summary_has_one_timing(store: StateStore, sandbox: SandboxServer,
                                    api_key: str) -> None:
    add_source(store, sandbox, api_key, tables=("campaigns", "segments"))
    result = run_cli(store.data_dir, "sync", "acme")
    assert result.code == 0, result.output
    assert "elapsed" not in result.stdout, result.stdout
    assert re.search(r"2 of 2 tables synced, \d+ rows in \d+\.\ds\.", result.stdout)
    assert len(re.findall(r"\d+\.\ds\b", result.stdout)) == 1, result.stdout
