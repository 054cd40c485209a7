"""`--data-dir` before or after the command, as the real `cio-warehouse` process reads it."""

from __future__ import annotations

from pathlib import Path

from cio_warehouse.state import DataDir, StateStore
from tests.helpers import add_source, run_cli_in


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
        result = run_cli_in(work, *args)
        assert result.code == 0, result.output
        assert "acme" in result.stdout
    assert list(work.iterdir()) == []  # the default ./cio-warehouse-data was never made


def test_data_dir_after_the_command_beats_the_environment(tmp_path: Path) -> None:
    data_dir = _linked(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    result = run_cli_in(tmp_path, "source", "list", "--data-dir", str(data_dir.root),
                  env={"CIO_WAREHOUSE_DATA_DIR": str(elsewhere)})
    assert result.code == 0, result.output
    assert "acme" in result.stdout
    assert not elsewhere.exists()


def test_two_different_data_dirs_are_a_usage_error(tmp_path: Path) -> None:
    data_dir = _linked(tmp_path)
    other = tmp_path / "other"
    result = run_cli_in(tmp_path, "--data-dir", str(other), "status", "acme",
                  "--data-dir", str(data_dir.root))
    assert result.code == 2, result.output
    assert "Usage: cio-warehouse status" in result.stderr
    assert "'--data-dir': given twice with different values" in result.stderr
    assert not other.exists()
