"""`source add --destination` keeps a PostgreSQL password out of argv: one on the command line is
warned about; a URL without it takes $CIO_WAREHOUSE_DESTINATION_PASSWORD or a hidden prompt, and
the password is used (a sync loads into a real server) and never printed."""

from __future__ import annotations

import os
import pty
import secrets
import select
import subprocess
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg2
import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import CLI, CliResult, run_cli, wait_until
from tests.secrets_plugin import record_output
from tests.services.postgres import PostgresServer

WARNING = "Warning: --destination holds a password"


@dataclass
class Role:
    """A login role of its own on a fresh database: `url` has no password."""

    url: str
    password: str


@pytest.fixture
def role(postgres_server: PostgresServer) -> Iterator[Role]:
    name = "etl_" + secrets.token_hex(4)
    # Characters a URL must percent-encode: the password goes into the stored URL encoded.
    password = "p@ss:w/rd%?#" + secrets.token_hex(8)
    database = "t_" + secrets.token_hex(6)
    postgres_server.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'", database="postgres")
    postgres_server.psql(f'CREATE DATABASE "{database}" OWNER {name}', database="postgres")
    yield Role(f"postgresql://{name}@127.0.0.1:{postgres_server.port}/{database}", password)


def _add(data_dir: DataDir, sandbox: SandboxServer, api_key: str, url: str,
         **env: str) -> CliResult:
    return run_cli(data_dir, "source", "add", "acme", "--api-base-url", sandbox.url,
                   "--table", "campaigns", "--destination", url,
                   env={"CIO_APP_API_KEY": api_key, **env})


def _campaigns(role: Role) -> int:
    """Read PostgreSQL with its own client, not through the product."""
    parts = urlsplit(role.url)
    con = psycopg2.connect(host=parts.hostname, port=parts.port, user=parts.username,
                           password=role.password, dbname=parts.path.lstrip("/"))
    try:
        with con.cursor() as cursor:
            cursor.execute("select count(*) from acme.campaigns")
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        con.close()


def test_a_password_on_the_command_line_is_warned_about(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, postgres_url: str
) -> None:
    result = _add(data_dir, sandbox, api_key, postgres_url)
    assert result.code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert warning.startswith(WARNING), result.stderr
    assert "$CIO_WAREHOUSE_DESTINATION instead" in warning
    assert "$CIO_WAREHOUSE_DESTINATION_PASSWORD" in warning
    password = urlsplit(postgres_url).password
    assert password and password not in result.output  # shown masked


def test_the_password_comes_from_the_environment(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, role: Role
) -> None:
    added = _add(data_dir, sandbox, api_key, role.url,
                 CIO_WAREHOUSE_DESTINATION_PASSWORD=role.password)
    assert added.code == 0, added.output
    assert WARNING not in added.output
    assert "loading into postgresql://etl_" in " ".join(added.stdout.split())
    synced = run_cli(data_dir, "sync", "acme")  # the stored URL holds it, encoded
    assert synced.code == 0, synced.output
    assert _campaigns(role) > 0
    status = run_cli(data_dir, "status", "acme")
    for shown in (added, synced, status):
        assert role.password not in shown.output
        assert "p%40ss" not in shown.output  # nor its encoded form


def test_a_wrong_password_is_refused_without_showing_it(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, role: Role
) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    result = _add(data_dir, sandbox, api_key, role.url, CIO_WAREHOUSE_DESTINATION_PASSWORD=wrong)
    assert result.code == 1, result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    assert wrong not in result.output
    assert "No sources yet" in run_cli(data_dir, "source", "list").stdout


def test_no_password_and_no_terminal_tries_without_one(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, role: Role
) -> None:
    """No variable and stdin not a terminal: libpq's own ways (~/.pgpass, trust); this server
    wants a password, so the check refuses it."""
    result = _add(data_dir, sandbox, api_key, role.url)
    assert result.code == 1, result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output


def test_the_password_is_asked_for_with_a_hidden_prompt(
    data_dir: DataDir, sandbox: SandboxServer, api_key: str, role: Role
) -> None:
    """In a terminal (a pty), as a user types it: the prompt names the URL, nothing echoes."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIO_WAREHOUSE_DESTINATION")}
    proc = subprocess.Popen(
        [str(CLI), "--data-dir", str(data_dir.root), "source", "add", "acme", "--api-base-url",
         sandbox.url, "--table", "campaigns", "--destination", role.url],
        stdin=slave, stdout=slave, stderr=subprocess.PIPE,
        env={**env, "CIO_APP_API_KEY": api_key, "COLUMNS": "200", "NO_COLOR": "1"},
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )
    os.close(slave)
    seen = b""
    try:
        seen = _read_until(master, b"Password for postgresql://etl_", proc)
        _wait_for_echo_off(master)  # getpass flushes what was typed before it turned echo off
        os.write(master, role.password.encode() + b"\n")
        seen += _read_until(master, b"Linked source", proc)
    finally:
        if proc.poll() is None and b"Linked source" not in seen:
            proc.kill()
        _, err = proc.communicate(timeout=120)  # reads and closes stderr
        os.close(master)
    stderr = err.decode()
    text = seen.decode(errors="replace")
    record_output("cli source add (pty)", text + stderr)
    assert proc.returncode == 0, text + stderr
    assert role.password not in text + stderr
    assert WARNING not in stderr
    assert run_cli(data_dir, "sync", "acme").code == 0
    assert _campaigns(role) > 0


def _wait_for_echo_off(fd: int) -> None:
    wait_until(lambda: not termios.tcgetattr(fd)[3] & termios.ECHO,
               "the prompt to turn echo off")


def _read_until(fd: int, wanted: bytes, proc: subprocess.Popen[bytes]) -> bytes:
    seen = b""
    deadline = time.monotonic() + 120
    while wanted not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
        elif proc.poll() is not None:
            break
    assert wanted in seen, seen
    return seen
