"""`--data-dir` before or after the command, as the real `cio-warehouse` process reads it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cio_warehouse.state import DataDir, StateStore
from tests.helpers import CLI, CliResult, add_source


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """The console script with exactly `args` (run_cli puts --data-dir first), run in `cwd`."""
    full_env = {k: v for k, v in os.environ.items() if k != "CIO_WAREHOUSE_DATA_DIR"}
    full_env.update({"COLUMNS": "200", **(env or {})})
    proc = subprocess.run([str(CLI), *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=120, stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _linked(tmp_path: Path) -> DataDir:
    data_dir = DataDir(tmp_path / "dd")
    add_source(StateStore(data_dir), name="acme")
    return data_dir


def test_data_dir_after_the_command(tmp_path: Path) -> None:
    data_dir = _linked(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for args in (("status", "acme", "--data-dir", str(data_dir.root)),
                 ("source", "list", f"--data-dir={data_dir.root}"),
                 ("--data-dir", str(data_dir.root), "tables", "acme",
                  "--data-dir", str(data_dir.root))):
        result = _cli(work, *args)
        assert result.code == 0, result.output
        assert "acme" in result.stdout
    assert list(work.iterdir()) == []  # the default ./cio-warehouse-data was never made


def test_data_dir_after_the_command_beats_the_environment(tmp_path: Path) -> None:
    data_dir = _linked(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    result = _cli(tmp_path, "source", "list", "--data-dir", str(data_dir.root),
                  env={"CIO_WAREHOUSE_DATA_DIR": str(elsewhere)})
    assert result.code == 0, result.output
    assert "acme" in result.stdout
    assert not elsewhere.exists()


def test_two_different_data_dirs_are_a_usage_error(tmp_path: Path) -> None:
    data_dir = _linked(tmp_path)
    other = tmp_path / "other"
    result = _cli(tmp_path, "--data-dir", str(other), "status", "acme",
                  "--data-dir", str(data_dir.root))
    assert result.code == 2, result.output
    assert "Usage: cio-warehouse status" in result.stderr
    assert "'--data-dir': given twice with different values" in result.stderr
    assert not other.exists()
