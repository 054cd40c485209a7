"""The data dir is private whatever the umask, and a dir made earlier is made private: after
`source add`, `sync`, a signing key, `serve` and a delivery loaded, every directory under the data
dir is 0700 and every file 0600 (the state, the key, the inbox and its SQLite journals, the DuckDB
warehouse and its WAL, dlt's working files, the service and admin token files)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cio_warehouse.sandbox import SandboxServer
from cio_warehouse.state import DataDir
from tests.helpers import CliResult, ServeProcess, cio_sign, run_cli, wait_until

SIGNING_KEY = "5e4f30211f2e3d4c5b6a798817263544536271809a8b7c6d5e4f30211f2e3d4c"


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def loose_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The test process's umask, which the CLI and `serve` it starts inherit."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _not_private(root: Path) -> list[str]:
    found = []
    for top, dirs, files in os.walk(root):
        for name, private in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = Path(top, name)
            st = path.lstat()
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != private:
                found.append(f"{path.relative_to(root)} {stat.S_IMODE(st.st_mode):04o}")
    mode = stat.S_IMODE(root.stat().st_mode)
    return found + ([f". {mode:04o}"] if mode != 0o700 else [])


def _delivery(client: httpx.Client, serve: ServeProcess) -> httpx.Response:
    body = json.dumps({
        "event_id": "01JPRIVATE000000000000001", "object_type": "email", "metric": "delivered",
        "timestamp": 1700000000, "data": {"delivery_id": "dlv1", "recipient": "p@example.com"},
    }).encode()
    ts = str(int(time.time()))
    return client.post(
        f"{serve.webhook_base}/webhooks/customerio/acme", content=body,
        headers={"X-CIO-Timestamp": ts, "X-CIO-Signature": cio_sign(SIGNING_KEY, ts, body),
                 "Content-Type": "application/json"},
    )


def test_every_file_is_private(tmp_path: Path, loose_umask: int, sandbox: SandboxServer,
                               api_key: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    root.chmod(0o755)  # made earlier, by hand
    data_dir = DataDir(root)

    added = run_cli(data_dir, "source", "add", "acme", "--region", "us", "--api-base-url",
                    sandbox.url, "--table", "campaigns", "--table", "email_events",
                    env={"CIO_APP_API_KEY": api_key})
    assert added.code == 0, added.output
    assert _not_private(root) == []
    synced = run_cli(data_dir, "sync", "acme")
    assert synced.code == 0, synced.output
    assert run_cli(data_dir, "webhook", "signing-key", "acme", stdin=SIGNING_KEY).code == 0

    serve = ServeProcess(data_dir, None, None, "--no-scheduler").start()
    try:
        with httpx.Client(timeout=10) as client:
            assert _delivery(client, serve).status_code == 200
        count = CliResult(-1, "", "")

        def loaded() -> bool:
            nonlocal count
            count = run_cli(data_dir, "query", "select count(*) as n from acme.email_events",
                            "--format", "json")
            assert count.code == 0, count.output
            return bool(json.loads(count.stdout) == [{"n": 1}])

        wait_until(loaded, "the delivery in the warehouse", 60, interval=0.5,
                   detail=lambda: count.output)
        assert json.loads(count.stdout) == [{"n": 1}], count.output
        # While it runs: the service file, the inbox and its journals, the warehouse's WAL.
        names = set(os.listdir(root))
        assert {"state.db", "secret.key", "warehouse.duckdb", "inbox.db", "service.json",
                "admin_token.json", "pipelines"} <= names, names
        assert _not_private(root) == []
    finally:
        serve.stop()
    assert _not_private(root) == []


def test_files_of_an_earlier_version_are_made_private(tmp_path: Path, loose_umask: int,
                                                      sandbox: SandboxServer,
                                                      api_key: str) -> None:
    data_dir = DataDir(tmp_path / "data")
    added = run_cli(data_dir, "source", "add", "acme", "--region", "us", "--api-base-url",
                    sandbox.url, "--table", "campaigns", env={"CIO_APP_API_KEY": api_key})
    assert added.code == 0, added.output
    assert run_cli(data_dir, "sync", "acme").code == 0
    # As a version that created files with the umask left them: readable by every user.
    for top, dirs, files in os.walk(data_dir.root):
        for name in dirs:
            Path(top, name).chmod(0o755)
        for name in files:
            if name != "secret.key":  # one others could read is refused, see below
                Path(top, name).chmod(0o644)
    data_dir.root.chmod(0o755)
    assert len(_not_private(data_dir.root)) > 5

    listed = run_cli(data_dir, "source", "list")
    assert listed.code == 0, listed.output
    assert _not_private(data_dir.root) == []

    data_dir.secret_key_file.chmod(0o644)
    refused = run_cli(data_dir, "source", "list")
    assert refused.code == 1
    assert f"chmod 600 {data_dir.secret_key_file}" in refused.stderr


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A 0755 dir whose mode even root cannot change (chattr +i), as one of another user's."""
    path = tmp_path / "theirs"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root (CAP_LINUX_IMMUTABLE) on ext4, xfs or btrfs")
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_dir_that_cannot_be_made_private_is_refused(immutable_dir: Path) -> None:
    result = run_cli(DataDir(immutable_dir), "source", "list")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "can be read by other users (mode 0755)" in result.stderr
    assert f"chmod 700 {immutable_dir}" in result.stderr
