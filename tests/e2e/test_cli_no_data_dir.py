"""A command that only reads, run where there is no data dir: one sentence, exit 1, and nothing
created (no ./cio-warehouse-data with a new secret.key and state.db)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli_in

READ_ONLY = [
    ("query", "select 1"),
    ("status", "acme"),
    ("tables", "acme"),
    ("webhook", "status", "acme"),
    ("source", "list"),
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda args: " ".join(args[:2]))
def test_read_only_command_without_a_data_dir_creates_nothing(tmp_path: Path,
                                                              args: tuple[str, ...]) -> None:
    result = run_cli_in(tmp_path, *args)  # the default data dir, ./cio-warehouse-data
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    expected = f"Error: There is no cio-warehouse data dir at {tmp_path / 'cio-warehouse-data'}"
    assert " ".join(result.stderr.split()).startswith(expected), result.stderr
    assert list(tmp_path.iterdir()) == []

    missing = tmp_path / "typo"
    result = run_cli_in(tmp_path, *args, "--data-dir", str(missing))
    assert result.code == 1, result.output
    assert f"no cio-warehouse data dir at {missing}" in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []
