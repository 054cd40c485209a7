"""Usage errors of the real `cio-warehouse` command: click's usage message and exit code 2, never a
Python traceback (typer >= 0.26 vendors click, so its errors are not `click.ClickException`s)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cio_warehouse.state import DataDir
from tests.helpers import CLI, run_cli


@pytest.mark.parametrize(
    ("args", "usage", "error"),
    [
        (("--bogus",), "Usage: cio-warehouse [OPTIONS] COMMAND", "Error: No such option: --bogus"),
        (("source", "add", "acme", "--nope"), "Usage: cio-warehouse source add [OPTIONS]",
         "Error: No such option: --nope"),
        (("nocmd",), "Usage: cio-warehouse [OPTIONS] COMMAND", "Error: No such command 'nocmd'."),
        (("source", "nocmd"), "Usage: cio-warehouse source [OPTIONS] COMMAND",
         "Error: No such command 'nocmd'."),
        (("query",), "Usage: cio-warehouse query [OPTIONS]", "Error: Missing argument 'SQL'."),
        (("source", "add"), "Usage: cio-warehouse source add [OPTIONS]",
         "Error: Missing argument 'NAME'."),
    ],
)
def test_usage_error_is_a_usage_message(data_dir: DataDir, args: tuple[str, ...], usage: str,
                                        error: str) -> None:
    result = run_cli(data_dir, *args)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.startswith(usage), result.stderr
    assert "--help' for help." in result.stderr
    assert result.stderr.rstrip().endswith(error), result.stderr


def test_no_command_is_a_usage_message(data_dir: DataDir) -> None:
    result = run_cli(data_dir)  # only --data-dir
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Usage: cio-warehouse [OPTIONS] COMMAND"), result.stderr
    assert result.stderr.rstrip().endswith("Error: Missing command."), result.stderr


def test_no_arguments_prints_the_help(tmp_path: Path) -> None:
    proc = subprocess.run([str(CLI)], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Usage: cio-warehouse [OPTIONS] COMMAND" in proc.stdout
    for command in ("source", "sync", "query", "serve"):
        assert command in proc.stdout
    assert not (tmp_path / "cio-warehouse-data").exists()  # help touches no data dir
