"""A damaged, missing or mismatched state.db or secret key, met by the real CLI: one sentence that
says what happened and what to do, exit code 1, and every file of the data dir left as it was
(never a new key next to encrypted secrets, never a silently empty state)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cio_warehouse.sandbox import SandboxServer, Workspace
from cio_warehouse.state import DataDir
from cio_warehouse.state.crypto import ENV_SECRET_KEY
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxServer, str]]:
    api_key = "sbx_" + secrets.token_hex(20)
    with SandboxServer(Workspace.preset("small", seed=7), api_key=api_key) as server:
        yield server, api_key


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory,
           sandbox: tuple[SandboxServer, str]) -> DataDir:
    """A data dir in use: source acme linked by the CLI (its App API key sealed in state.db),
    one table synced into warehouse.duckdb."""
    server, api_key = sandbox
    data_dir = DataDir(tmp_path_factory.mktemp("linked") / "data")
    added = run_cli(data_dir, "source", "add", "acme", "--region", "us", "--api-base-url",
                    server.url, env={"CIO_APP_API_KEY": api_key})
    assert added.code == 0, added.output
    synced = run_cli(data_dir, "sync", "acme", "--table", "snippets")
    assert synced.code == 0, synced.output
    assert data_dir.warehouse.exists() and data_dir.secret_key_file.exists()
    return data_dir


@pytest.fixture
def data_dir(linked: DataDir, tmp_path: Path) -> DataDir:
    """A copy of the linked data dir for one test to damage."""
    copy = DataDir(tmp_path / "data")
    shutil.copytree(linked.root, copy.root, symlinks=True)
    return copy


def snapshot(data_dir: DataDir) -> dict[str, str]:
    """Every file and dir under the data dir, with its content's hash and its mode."""
    found = {}
    for path in sorted(data_dir.root.rglob("*")):
        mode = oct(path.lstat().st_mode)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(data_dir.root))] = f"{mode} {digest}"
    return found


def assert_refused(result: CliResult, *fragments: str) -> None:
    """Exit code 1 and one sentence on stderr naming what happened and what to do."""
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].endswith("."), lines
    assert not re.search(r"\. [A-Z]", lines[0]), f"more than one sentence: {lines[0]}"
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def truncate_state(data_dir: DataDir) -> None:
    data = data_dir.state_db.read_bytes()
    data_dir.state_db.write_bytes(data[: len(data) // 2])


def garble_state(data_dir: DataDir) -> None:
    size = data_dir.state_db.stat().st_size
    data_dir.state_db.write_bytes(secrets.token_bytes(size))


def damage_a_page(data_dir: DataDir) -> None:
    """The header and the size are intact, the last page is noise: only a check finds it."""
    data = bytearray(data_dir.state_db.read_bytes())
    data[-4096:] = secrets.token_bytes(4096)
    data_dir.state_db.write_bytes(bytes(data))


def empty_state(data_dir: DataDir) -> None:
    data_dir.state_db.write_bytes(b"")  # SQLite would take this for a new, empty database


def delete_state(data_dir: DataDir) -> None:
    data_dir.state_db.unlink()


def delete_key(data_dir: DataDir) -> None:
    data_dir.secret_key_file.unlink()


def replace_key(data_dir: DataDir) -> None:
    data_dir.secret_key_file.write_bytes(Fernet.generate_key())


def garble_key(data_dir: DataDir) -> None:
    data_dir.secret_key_file.write_bytes(b"not a key\n")


def expose_key(data_dir: DataDir) -> None:
    data_dir.secret_key_file.chmod(0o644)


def key_is_a_dir(data_dir: DataDir) -> None:
    """Unreadable whoever runs the test (root reads a file of mode 000)."""
    data_dir.secret_key_file.unlink()
    data_dir.secret_key_file.mkdir(mode=0o700)


START_OVER_WITH_KEY = "to start over with no sources, move state.db and secret.key out of"
CASES: dict[str, tuple[Callable[[DataDir], None], tuple[str, ...]]] = {
    "state.db truncated": (
        truncate_state, ("state.db is unreadable", "restore it from a backup", START_OVER_WITH_KEY)
    ),
    "state.db overwritten with garbage": (
        garble_state, ("state.db is unreadable", "restore it from a backup", START_OVER_WITH_KEY)
    ),
    "state.db with a damaged page": (
        damage_a_page, ("state.db is unreadable", "restore it from a backup")
    ),
    "state.db deleted": (
        delete_state,
        ("state.db is missing or empty but", "sources and run history are gone",
         "restore state.db from a backup", "move secret.key out of the data dir as well"),
    ),
    "state.db emptied": (empty_state, ("state.db is missing or empty but",)),
    "secret.key deleted": (
        delete_key,
        ("secret.key is missing", "cannot be decrypted without it", "restore it from a backup",
         ENV_SECRET_KEY, "move state.db out of", "no new key was created"),
    ),
    "secret.key replaced": (
        replace_key,
        ("secret.key is not the key this data dir's secrets were encrypted with",
         "put the original secret.key back", START_OVER_WITH_KEY),
    ),
    "secret.key garbage": (
        garble_key, ("secret.key does not hold a valid secret key", "restore the original key")
    ),
    "secret.key readable by others": (
        expose_key, ("can be read by other users (mode 0644)", "chmod 600")
    ),
    "secret.key unreadable": (key_is_a_dir, ("secret.key cannot be read (Is a directory)",)),
}


@pytest.mark.parametrize("damage", CASES.values(), ids=CASES.keys())
def test_a_damaged_state_or_key_is_one_clear_error_and_changes_no_file(
    data_dir: DataDir, damage: tuple[Callable[[DataDir], None], tuple[str, ...]]
) -> None:
    harm, fragments = damage
    harm(data_dir)
    before = snapshot(data_dir)
    assert_refused(run_cli(data_dir, "status", "acme"), *fragments)
    assert snapshot(data_dir) == before


def test_every_command_refuses_before_writing_anything(data_dir: DataDir) -> None:
    delete_key(data_dir)
    before = snapshot(data_dir)
    for command in (("source", "list"), ("sync", "acme"), ("webhook", "status", "acme"),
                    ("serve", "--port", "0", "--webhook-port", "0")):
        assert_refused(run_cli(data_dir, *command, timeout=60), "secret.key is missing")
    assert not data_dir.secret_key_file.exists()  # above all, no new key
    assert snapshot(data_dir) == before


@pytest.mark.parametrize("file_key_opens", [True, False], ids=["file intact", "file replaced"])
def test_another_env_key_is_refused(data_dir: DataDir, file_key_opens: bool) -> None:
    if not file_key_opens:
        replace_key(data_dir)
    before = snapshot(data_dir)
    other = {ENV_SECRET_KEY: Fernet.generate_key().decode()}
    result = run_cli(data_dir, "status", "acme", env=other)
    assert_refused(result, f"${ENV_SECRET_KEY} is not the key", "cannot be decrypted")
    hint = "unset it to use" if file_key_opens else "set it to that key"
    assert hint in result.stderr
    assert snapshot(data_dir) == before


def test_an_invalid_env_key_is_refused(data_dir: DataDir) -> None:
    before = snapshot(data_dir)
    result = run_cli(data_dir, "status", "acme", env={ENV_SECRET_KEY: "not-a-key"})
    assert_refused(result, f"${ENV_SECRET_KEY} does not hold a valid secret key")
    assert snapshot(data_dir) == before


def test_the_right_key_in_the_env_works_without_the_file(data_dir: DataDir) -> None:
    key = data_dir.secret_key_file.read_text().strip()
    delete_key(data_dir)
    result = run_cli(data_dir, "status", "acme", env={ENV_SECRET_KEY: key})
    assert result.code == 0, result.output
    assert not data_dir.secret_key_file.exists()


def test_the_intact_data_dir_works(data_dir: DataDir) -> None:
    """The control: the same command on the undamaged copy."""
    result = run_cli(data_dir, "status", "acme")
    assert result.code == 0, result.output
    assert "snippets" in result.stdout


def test_starting_over_as_the_errors_say_keeps_the_warehouse(data_dir: DataDir) -> None:
    delete_key(data_dir)
    refused = run_cli(data_dir, "source", "list")
    assert_refused(refused, "move state.db out of")
    aside = data_dir.root.parent / "aside"
    aside.mkdir()
    data_dir.state_db.rename(aside / "state.db")
    fresh = run_cli(data_dir, "source", "list")
    assert fresh.code == 0 and "No sources yet" in fresh.stdout, fresh.output
    assert data_dir.warehouse.exists()


def test_a_new_data_dir_still_starts_by_itself(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "new")
    # A command that only reads makes no data dir (tests/e2e/test_cli_no_data_dir.py); one that
    # writes does.
    result = run_cli(data_dir, "sync", "acme")
    assert result.code == 1 and "acme" in result.stderr, result.output
    assert data_dir.secret_key_file.exists() and data_dir.state_db.exists()
    assert os.stat(data_dir.secret_key_file).st_mode & 0o077 == 0
