"""The secrets scan itself: a planted key is found in each form, an encrypted one is not, and a
leak fails the whole pytest session."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from cio_warehouse.secret import Secret
from cio_warehouse.state import DataDir, SourceConfig, StateStore
from tests.secrets_plugin import KEY_SHAPES, stored_secrets
from tests.secrets_scan import Scanner

PLANTED = "sbx_planted/key+with=odd&chars_0123456789"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Outside pytest's basetemp and gone after the test: the session's own scan must not take
    these keys, planted on purpose, for a leak."""
    with tempfile.TemporaryDirectory(prefix="secrets-scan-test-") as directory:
        yield Path(directory)


def test_a_planted_key_is_found_raw_url_encoded_and_in_base64(tmp_path: Path) -> None:
    (tmp_path / "raw.log").write_bytes(b"\x00binary\xff" + PLANTED.encode() + b"\x00")
    (tmp_path / "url.txt").write_text("GET /?key=" + quote(PLANTED, safe=""))
    (tmp_path / "b64.json").write_bytes(b'{"auth": "' + base64.b64encode(b"u:" + PLANTED.encode())
                                        + b'"}')
    (tmp_path / "clean.txt").write_text("nothing here " + PLANTED[:-1])
    scanner = Scanner([PLANTED])
    findings = scanner.scan_tree(tmp_path)
    assert sorted((Path(f.where).name, f.form) for f in findings) == [
        ("b64.json", "base64"), ("raw.log", "raw"), ("url.txt", "url-encoded"),
    ]
    assert scanner.scanned_files == 4
    assert all(PLANTED not in str(f) for f in findings), "the report masks the key"


def test_a_key_of_the_fixtures_shape_is_found_without_being_known(tmp_path: Path) -> None:
    shaped = "sbx_" + "0f" * 20
    (tmp_path / "out.txt").write_text(f"Bearer {shaped}\n")
    assert [f.form for f in Scanner([], KEY_SHAPES).scan_tree(tmp_path)] == [
        f"shape {KEY_SHAPES[0].pattern!r}"
    ]


def test_keys_stored_encrypted_do_not_match_and_are_collected(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path / "data").create()
    StateStore(data_dir).add_source(SourceConfig(
        name="acme", region="us", app_api_key=Secret(PLANTED),
        signing_key=Secret(PLANTED[::-1]),
    ))
    assert stored_secrets(tmp_path) == {PLANTED, PLANTED[::-1]}
    assert Scanner([PLANTED, PLANTED[::-1]]).scan_tree(tmp_path) == []


def test_a_leak_fails_the_session(tmp_path: Path) -> None:
    (tmp_path / "test_leak.py").write_text(
        "from tests.secrets_plugin import remember\n\n"
        "def test_prints_a_key(tmp_path):\n"
        f"    remember({PLANTED!r})\n"
        f"    (tmp_path / 'app.log').write_text('using ' + {PLANTED!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.secrets_plugin", "-p", "no:cacheprovider",
         "-q", f"--basetemp={tmp_path / 'inner'}", f"--rootdir={tmp_path}",
         str(tmp_path / "test_leak.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "1 found in clear text" in result.stdout and "app.log" in result.stdout
    assert PLANTED not in result.stdout
