"""`cio-warehouse demo` runs the whole flow to its summary, twice in a row on one data dir."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from cio_warehouse.state import DataDir
from tests.helpers import run_cli, run_cli_in


def test_demo_runs_end_to_end_and_again(data_dir: DataDir) -> None:
    for _ in range(2):
        result = run_cli(data_dir, "demo", "--duration", "2", "--port", "0",
                         "--webhook-port", "0", timeout=240)
        assert result.code == 0, result.output
        text = " ".join(result.stdout.split())
        for step in ("11 of 11 tables synced", "Registered reporting webhook",
                     "the webhook is enabled", "signed deliveries a second", "Sample query"):
            assert step in text, step
    # The hint's commands, typed as printed in another directory, reach this data dir.
    hint = result.stdout.split("Query while it runs, from another terminal:")[1].splitlines()
    query, status = (shlex.split(line) for line in hint[1:3])
    assert query[:3] == ["cio-warehouse", "--data-dir", str(data_dir.root)], hint
    elsewhere = Path(data_dir.root).parent / "elsewhere"
    elsewhere.mkdir()
    for typed in (query, status):
        assert run_cli_in(elsewhere, *typed[1:]).code == 0, typed
    counts = json.loads(run_cli(
        data_dir, "query",
        "select (select count(*) from demo.campaigns) as campaigns,"
        " (select count(*) from demo.email_events) as emails,"
        " (select count(*) from demo.deliveries where from_history) as history",
        "--format", "json").stdout)
    assert counts[0]["campaigns"] > 0 and counts[0]["emails"] > 50
    assert counts[0]["history"] > 1_000  # the sandbox's two weeks of sends
